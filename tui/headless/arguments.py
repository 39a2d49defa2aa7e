"""The options of the shell commands (`check`, `add`, `remove`, `ls`, `submit`) and their help:
argparse only, so that the command line is parsed without importing what the commands run on."""

from __future__ import annotations

import argparse

from tui.api.models import STYLE_IDS, STYLE_STRENGTHS
from tui.core.options import DEFAULT_LOCK_WAIT, LOCK_TIMEOUT_ENV, add_team_options

COLOR_CHOICES = ("auto", "always", "never")

IDS_HELP = (
    "job ids (32 hex characters; commas or spaces may separate several in one argument). "
    "'-' reads ids from standard input, found anywhere in free text such as logs or JSON"
)

REMOVE_EPILOG = """\
exit status of `remove`:
  0  at least one of the ids was in the watchlist and is removed (the others are reported on stderr)
  1  none of the ids was in the watchlist: nothing changed
  2  usage or configuration error (malformed id, a near-miss id read with '-', a watchlist from a
     newer version, one that does not parse, or one that cannot be written): nothing changed
A watchlist file that does not parse is left as it is: the message gives its line and column to fix.
"""

ADD_EPILOG = """\
Ids already in the watchlist are skipped and reported; the exit status is still 0.
exit status of `add`: 0 done; 2 usage or configuration error (malformed id, a near-miss id read
with '-', a watchlist from a newer version, one that does not parse, or one that cannot be written): nothing written. A
watchlist file that does not parse is left as it is: the message gives its line and column to fix.
A running monitor on the same watchlist picks the new ids up within a few seconds.
"""

LOCK_EPILOG = f"""
While another vclm-watch holds the watchlist's lock, the command waits (saying so on stderr) for
up to {DEFAULT_LOCK_WAIT:g} s ({LOCK_TIMEOUT_ENV}=SECONDS to change it), then gives up with exit 2,
having written nothing.
"""

SUBMIT_EPILOG = """\
Prints the new JobId (with --json, the answer: {"JobId": ..., "RequestId": ...}). With --add the
job also goes on the watchlist, where a running monitor picks it up within a few seconds; the
watchlist is checked before submitting, so a file that cannot be used stops the command first.
Retried only when the service refused it for now (throttling, its own errors), never after a
network failure: the job may exist already, and a second submission would make another.
exit status of `submit`:
  0  submitted (and added with --add)
  2  usage or configuration error: bad URL or option, no credentials, a watchlist that cannot be
     used (nothing submitted; if only the final write failed, the JobId is printed all the same)
  3  the API refused the submission or the request failed (the error and its RequestId on stderr)
"""


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    import textwrap  # (here, as in add_submit_arguments: `add` has no description to wrap)

    parser.add_argument("ids", nargs="*", metavar="ID", help=IDS_HELP)
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per job with the API's field names (JobId, StatusCode, "
                             "StatusMsg, ResultVideoUrl, RequestId) plus Error (null or {Code, Message, RequestId}), "
                             "PolledAt (ISO 8601 UTC), Source (\"fetched\" by this process, or \"shared\": taken from "
                             "another vclm-watch on the account, see --shared) and AgeSeconds (how old the answer is)")
    parser.add_argument("--wait", action="store_true",
                        help="keep polling unfinished jobs until every one is finished (or refused for good, e.g. "
                             "an id still unknown after --not-found-grace) or --timeout SECONDS runs out, printing "
                             "each state change as it happens (with --json, one object per change, with "
                             "\"Event\": \"StateChanged\"); on a terminal a live progress line on stderr, and at "
                             "the end a summary line (with --json, a last object with \"Event\": \"Summary\")")
    parser.add_argument("--not-found-grace", type=float, metavar="SECONDS",
                        help="with --wait, how long an id the service calls unknown (FailedOperation.TaskNotExist, "
                             "as a just-submitted one can briefly be) is asked again, with backoff, before it counts "
                             "as unqueryable (default: the config's not_found_grace, 60; 0 gives up at once)")
    parser.add_argument("--download", metavar="DIR",
                        help="save each job's video into DIR as it reaches JobSuccess (JOBID.mp4; with --wait, while "
                             "the others are still polled), resumed and checked (SHA-256); rows gain File (with "
                             "--json: File, Bytes, Sha256, DownloadError); a download that fails counts as could not "
                             "be completed (exit 3)")
    _add_table_arguments(parser, "RequestId")
    add_team_options(parser)
    parser.description = textwrap.fill(
        "Query each job once through the same engine as the monitor (same rate limit and retries) and print "
        "one row per job: a table on a terminal, plain aligned text when piped, or JSON Lines with --json. "
        "Without --wait, --timeout is the read timeout of one request; with --wait it is the overall deadline. "
        "Ids read with '-' that are nearly ids (a hex run of the wrong length) are reported and skipped, "
        "the others checked, and the exit status is then 2, as for a malformed id given as an argument.", 78
    )


def _add_table_arguments(parser: argparse.ArgumentParser, last_column: str) -> None:
    """--color and --wide, for a command that prints a table (`last_column`: the one --wide brings back)."""
    parser.add_argument("--color", choices=COLOR_CHOICES, default="auto",
                        help="colour the table: auto (the default) on a terminal unless NO_COLOR is set")
    parser.add_argument("--wide", action="store_true",
                        help=f"on a terminal, show every column ({last_column} too) and cut nothing; by default the "
                             "table fits the terminal's width, long values cut with '…' (piped output and --json "
                             "are never cut)")


DOWNLOAD_EPILOG = """\
Each job is asked about once (through the same engine, rate limit and retries as `check`); a job
that is JobSuccess has its video saved as DIR/JOBID.EXT (a video extension the server names, else
.mp4): streamed to JOBID.EXT.part, resumed after a dropped connection or from a .part an
interrupted run left, checked against its size and SHA-256, then renamed into place. A file saved
earlier in DIR with the checksum the job database recorded is not downloaded again. An expired URL
is refreshed once. Two processes saving one job into one DIR take turns (.JOBID.lock).
exit status: as `check`'s (0 all saved; 1 a job failed; 2 usage; 3 a job could not be queried or
its download could not be completed; 4 a job is not finished yet).
"""


def add_download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help=IDS_HELP)
    parser.add_argument("--dir", metavar="DIR",
                        help="where the videos go (default: the config's download_dir, else the current directory)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: `check --json`'s objects plus File, Bytes, Sha256 and DownloadError")
    _add_table_arguments(parser, "RequestId")
    add_team_options(parser)  # (its one poll of each job goes through the team, as check's)
    parser.epilog = DOWNLOAD_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help=IDS_HELP)
    parser.add_argument("--label", default="", help="a label shown beside the new ids")
    parser.epilog = ADD_EPILOG + LOCK_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_remove_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help=IDS_HELP)
    parser.epilog = REMOVE_EPILOG + LOCK_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_ls_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per job (JobId, Label, StatusCode, StatusMsg, "
                             "ResultVideoUrl, RequestId, Error, AddedAt, LastPolled)")
    _add_table_arguments(parser, "LastPolled")


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    import textwrap

    parser.add_argument("video_url", metavar="VIDEO_URL",
                        help="http(s) URL of the input video (mp4 or mov, 1-60 s, sides 540-2056 px, at most 200 MB)")
    parser.add_argument("--style", choices=STYLE_IDS, default=STYLE_IDS[0],
                        help="StyleId (default %(default)s)")
    parser.add_argument("--strength", choices=STYLE_STRENGTHS, default="medium",
                        help="StyleStrength (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the answer as one JSON object (JobId, RequestId)")
    parser.add_argument("--add", action="store_true", help="also add the new job to the watchlist")
    parser.add_argument("--label", default="", help="with --add: a label shown beside the job")
    parser.description = textwrap.fill(
        "Submit a video for stylization (SubmitVideoStylizationJob) with the same credentials, region, "
        "endpoint and rate limit as the other commands, and print the new JobId.", 78)
    parser.epilog = SUBMIT_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
