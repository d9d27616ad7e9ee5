"""schoolnet-fleet: the county's roster becomes every school's config, credential, ACL,
alert route and install bundle.

    schoolnet-fleet template roster.xlsx                 an empty workbook to fill in
    schoolnet-fleet check roster.xlsx                    every mistake in it, cell by cell
    schoolnet-fleet plan roster.xlsx --state /srv/schoolnet-fleet      what apply would change
    schoolnet-fleet apply roster.xlsx --state /srv/schoolnet-fleet     make it so
    schoolnet-fleet broker --state /srv/schoolnet-fleet --broker mqtt://127.0.0.1:1883
                                                         account changes to the running broker
    schoolnet-fleet publish --state /srv/schoolnet-fleet --vm http://127.0.0.1:8428

Exit status: 0 done (plan: nothing to change or changes listed), 1 the roster has
mistakes or a generated config would be refused, 2 a usage mistake, 3 the running broker
refused or did not answer (the changes stay pending: run `broker` again).
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

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_BROKER = 0, 1, 2, 3


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
    broker = commands.add_parser("broker", help="把待办的账号变更发给运行中的消息服务器 / send pending account "
                                 "changes to the running broker")
    broker.add_argument("--state", type=Path, required=True, help="状态目录 / the state folder")
    _broker_options(broker, required=True)
    broker.set_defaults(run=_broker)
    publish = commands.add_parser("publish", help="把名单写入 VictoriaMetrics / push the roster series")
    publish.add_argument("--state", type=Path, required=True)
    publish.add_argument("--vm", required=True, help="VictoriaMetrics URL, e.g. http://127.0.0.1:8428")
    publish.add_argument("--every", type=float, default=0, metavar="SECONDS",
                         help="每隔多少秒重复 / repeat (0: once); keep it under 300")
    publish.set_defaults(run=_publish)
    return parser


def _broker_options(command: argparse.ArgumentParser, required: bool = False) -> None:
    command.add_argument("--broker", metavar="URL", required=required,
                         help="运行中的消息服务器，以 schoolnet-admin 身份更改账号、结束换密码和停用学校的会话、清除停用学校的保留状态 "
                              "/ the running broker (mqtt://127.0.0.1:1883 on its host, or mqtts://HOST:8883 with "
                              "--ca): account changes are sent as schoolnet-admin, rotated and retired schools' "
                              "sessions ended, retired schools' retained status cleared")
    command.add_argument("--ca", type=Path, help="县 CA 证书 / the county CA certificate (bundles, mqtts://)")


def _apply_options(apply_parser: argparse.ArgumentParser) -> None:
    _broker_options(apply_parser)
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
    applied = apply(desired, plan, state, frozenset(args.rotate))
    status = EXIT_OK
    if args.bundles:
        from fleet.bundle import BundleError, build_bundles
        try:
            applied.written += build_bundles(desired, state, args.ca, args.wheel, args.with_deps)
        except BundleError as error:
            print(f"未生成安装包 bundles not built: {error}", file=sys.stderr)
            status = EXIT_PROBLEMS
    synced = _synced(state, args) if args.broker else None
    output.applied(applied, state, synced)
    return EXIT_BROKER if synced is not None and synced.failed else status


def _synced(state: State, args):
    """The pending account changes sent to the running broker; a broker that cannot be
    reached leaves them pending (said on stderr), and apply's files stay written."""
    from fleet.dynsec import Refused
    from fleet.sync import Synced, sync
    try:
        return sync(state, args.broker, args.ca)
    except Refused as refusal:
        return Synced(failed=[str(refusal)])


def _broker(args) -> int:
    state = State(args.state)
    synced = _synced(state, args)
    output.broker_synced(synced)
    if not synced.done and not synced.failed:
        output.say("无待办的账号变更 / no pending account changes")
    return EXIT_BROKER if synced.failed else EXIT_OK


def _publish(args) -> int:
    from fleet.publish import publish_forever
    return publish_forever(State(args.state), args.vm, args.every)


if __name__ == "__main__":
    sys.exit(main())
