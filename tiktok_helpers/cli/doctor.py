"""``doctor``: run the library's checks (:mod:`tiktok_helpers.doctor`) and show what to fix."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..display import doctor_json, doctor_text
from ..doctor import CLOCK_FAIL_AHEAD, CLOCK_FAIL_BEHIND, run_checks
from ..errors import MissingSettingError, NoSellerYet, TikTokHelperError
from ..store import load_with_seller
from .common import SubParsers, add_command, check_scenario_here, chosen_seller, env_path, environ
from .output import Output

__all__ = ["register", "run"]


def _check_seller(args: argparse.Namespace, out: Output) -> None:
    """A --seller that names no seller, or several, is bad usage (exit 2), as for every command; any
    other problem of the settings is the doctor's to report, as a check."""
    if args.seller is None:
        return
    with chosen_seller(args):
        try:
            load_with_seller(env_path(args, out), environ(args, out), args.seller)
        except MissingSettingError as exc:
            if not isinstance(exc, NoSellerYet):
                raise  # chosen_seller: exit 2
        except TikTokHelperError:
            pass  # the settings check reports it


def run(args: argparse.Namespace, out: Output) -> int:
    check_scenario_here(args, out)  # exit 2 before anything starts, not a failed check
    _check_seller(args, out)
    report = run_checks(
        env_path(args, out), environ(args, out), seller=args.seller, scenario=getattr(args, "scenario", None)
    )
    out.result(doctor_json(report, prog=out.prog), doctor_text(report, prog=out.prog))
    return 0 if report.ok else 1


def register(commands: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    add_command(
        commands,
        "doctor",
        "check settings, clock, hosts and tokens; say what to fix",
        f"""\
Check what the flow depends on and say what to fix for each failed check:

  settings       .env and the environment are valid (every bad value named)
  app settings   live mode: App Key, App Secret, service_id, redirect URL are set
  hosts          the token host, the Open API host and API2Cart answer (any HTTP status counts)
  clock          this computer's clock against the token host's Date header: TikTok accepts a
                 signed request from {CLOCK_FAIL_BEHIND:.0f} s behind its clock to {CLOCK_FAIL_AHEAD:.0f} s ahead
                 (a warning at half of either)
  tokens         neither token has expired or has less than a day left

In sandbox mode the hosts and the clock are checked against the in-process sandbox. Exit 0 when
every check passes (warnings allowed), 1 otherwise.

When to use it: before starting, and whenever a step fails in a way you do not understand.""",
        ["", "--json", "--timeout 5"],
        run,
        parents=parents,
    )
