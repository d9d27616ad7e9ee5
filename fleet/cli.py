"""schoolnet-fleet: the county's roster becomes every school's config, credential, ACL,
alert route and install bundle.

    schoolnet-fleet template roster.xlsx                 an empty workbook to fill in
    schoolnet-fleet check roster.xlsx                    every mistake in it, cell by cell
    schoolnet-fleet plan roster.xlsx --state /srv/schoolnet-fleet      what apply would change
    schoolnet-fleet apply roster.xlsx --state /srv/schoolnet-fleet     make it so
    schoolnet-fleet publish --state /srv/schoolnet-fleet --vm http://127.0.0.1:8428

Exit status: 0 done (plan: nothing to change or changes listed), 1 the roster has
mistakes or a generated config would be refused, 2 a usage mistake.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fleet import output
from fleet.apply import apply
from fleet.plan import agent_refusals, checked_digests, desired_state, make_plan
from fleet.state import State
from roster.load import load_roster
from roster.problems import RosterError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except RosterError as error:
        output.problems(error.problems)
        return EXIT_PROBLEMS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolnet-fleet", description="县学校名单 → 全县配置 / county roster → fleet")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    template = commands.add_parser("template", help="写出空白名单模板 / write an empty roster workbook")
    template.add_argument("output", type=Path)
    template.set_defaults(run=_template)
    check = commands.add_parser("check", help="检查名单 / check the roster, every mistake at once")
    check.add_argument("roster", type=Path)
    check.set_defaults(run=_check)
    for name, run, text in (("plan", _plan, "显示将要的变更 / show what apply would change"),
                            ("apply", _apply, "写入状态目录 / write the state folder")):
        command = commands.add_parser(name, help=text)
        command.add_argument("roster", type=Path, help="名单 .xlsx，或 CSV 文件夹 / the workbook or a folder of CSV")
        command.add_argument("--state", type=Path, required=True, help="状态目录 / the state folder")
        command.add_argument("--rotate", action="append", default=[], metavar="SCHOOL",
                             help="重新生成该校密码 / issue a new password (school id, county/id or account)")
        command.set_defaults(run=run)
    _apply_options(commands.choices["apply"])
    publish = commands.add_parser("publish", help="把名单写入 VictoriaMetrics / push the roster series")
    publish.add_argument("--state", type=Path, required=True)
    publish.add_argument("--vm", required=True, help="VictoriaMetrics URL, e.g. http://127.0.0.1:8428")
    publish.add_argument("--every", type=float, default=0, metavar="SECONDS",
                         help="每隔多少秒重复 / repeat (0: once); keep it under 300")
    publish.set_defaults(run=_publish)
    return parser


def _apply_options(apply_parser: argparse.ArgumentParser) -> None:
    apply_parser.add_argument("--broker", metavar="URL",
                              help="撤销学校前清除其保留状态 / clear retired schools' retained status on this broker")
    apply_parser.add_argument("--ca", type=Path, help="县 CA 证书 / the county CA certificate (bundles, --broker)")
    apply_parser.add_argument("--bundles", action="store_true", help="生成离线安装包 / build install bundles")
    apply_parser.add_argument("--wheel", type=Path, help="schoolnet wheel (default: built from this checkout)")
    apply_parser.add_argument("--with-deps", type=Path, metavar="DIR", help="依赖 wheel 目录 / dependency wheels")


def _template(args) -> int:
    from roster.template import write_template
    write_template(args.output)
    output.say(f"已写出模板 / template written: {args.output}")
    return EXIT_OK


def _check(args) -> int:
    roster, notes = load_roster(args.roster)
    output.problems(notes)
    output.say(f"名单无误 / roster is valid: {len(roster.counties)} 县 counties, {len(roster.schools)} 所学校 schools, "
               f"{sum(len(s.classrooms) for s in roster.schools)} 个班级 classes")
    return EXIT_OK


def _prepare(args):
    started = time.monotonic()
    roster, notes = load_roster(args.roster)
    output.problems(notes)
    desired = desired_state(roster, args.roster.name)
    state = State(args.state)
    refusals = agent_refusals(desired, checked_digests(state))
    if refusals:
        output.refusals(refusals)
        return None
    plan = make_plan(desired, state, frozenset(args.rotate))
    return desired, state, plan, time.monotonic() - started


def _plan(args) -> int:
    prepared = _prepare(args)
    if prepared is None:
        return EXIT_PROBLEMS
    desired, _state, plan, seconds = prepared
    output.plan(plan, desired, seconds)
    return EXIT_OK


def _apply(args) -> int:
    prepared = _prepare(args)
    if prepared is None:
        return EXIT_PROBLEMS
    desired, state, plan, _ = prepared
    output.plan(plan, desired, None)
    cleared = output.clear_retired(plan, state, args.broker, args.ca)
    applied = apply(desired, plan, state, frozenset(args.rotate))
    output.mark_cleared(state, cleared)
    if args.bundles:
        from fleet.bundle import BundleError, build_bundles
        try:
            applied.written += build_bundles(desired, state, args.ca, args.wheel, args.with_deps)
        except BundleError as error:
            output.applied(applied, state, cleared)
            print(f"未生成安装包 bundles not built: {error}", file=sys.stderr)
            return EXIT_PROBLEMS
    output.applied(applied, state, cleared)
    return EXIT_OK


def _publish(args) -> int:
    from fleet.publish import publish_forever
    return publish_forever(State(args.state), args.vm, args.every)


if __name__ == "__main__":
    sys.exit(main())
