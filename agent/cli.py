"""The school agent's command line: `schoolnet-agent COMMAND -c FILE`.

Each command is one `_add_*` function that declares its arguments and the function that
runs it; list it in _COMMANDS to make it available. Config mistakes from any command are
printed the same way (one line per problem, exit status 2), so a command only has to call
load_config() and let ConfigError through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import check, daemon
from agent.config import AgentConfig, SyncClassroom, load_config
from schoolnet_core.config import ConfigError, Secret, SecretRef, read_secret

DEFAULT_CONFIG = "/etc/schoolnet/agent.yaml"
EXIT_CONFIG_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        _print_problems(error)
        return EXIT_CONFIG_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schoolnet-agent",
        description="学校信息化监测代理 (schoolnet school agent)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_command in _COMMANDS:
        add_command(commands)
    return parser


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"配置文件 (config file, default {DEFAULT_CONFIG})")


def _add_validate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("validate", help="检查配置文件 (check the config file)")
    _add_config_option(parser)
    parser.add_argument("--secrets", action="store_true",
                        help="同时读取密码文件/环境变量 (also read the secrets, as the agent will)")
    parser.set_defaults(run=_validate)


def _validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.secrets:
        _read_secrets(config)
    print(_summary(config))
    print("配置有效 (config OK)")
    return 0


def _read_secrets(config: AgentConfig) -> dict[SecretRef, Secret]:
    """Read every secret now, so a missing password file shows up before the agent runs."""
    secrets, problems = {}, []
    for ref in config.secret_refs():
        try:
            secrets[ref] = read_secret(ref)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return secrets


def _add_run(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="运行监测代理，直到收到停止信号 (run the agent until stopped)")
    _add_config_option(parser)
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return daemon.main(config, _read_secrets(config))


def _add_check(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check", help="立即检测一次，显示各项指标是否达标 (measure once: which targets pass, and why)")
    _add_config_option(parser)
    parser.add_argument("--json", action="store_true",
                        help="输出 JSON 而非表格 (print a JSON document instead of the table)")
    parser.add_argument("--no-speed-test", action="store_true",
                        help="不测速（测速会占用出口带宽）(skip the speed test, which loads the uplink)")
    parser.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return check.main(config, _read_secrets(config), as_json=args.json, speed_test=not args.no_speed_test)


def _summary(config: AgentConfig) -> str:
    school = config.school
    devices = [device for room in config.classrooms for device in room.devices]
    required = sum(device.required for device in devices)
    rural = "是 (yes)" if school.rural else "否 (no)"
    return "\n".join([
        f"配置文件 (file): {config.source}",
        f"学校 (school): {school.name} [{school.id}]",
        f"县 (county): {school.county}    农村学校 (rural): {rural}",
        f"消息服务器 (broker): {config.broker.url}",
        f"宽带探测目标 (broadband targets): {len(config.broadband.targets)}",
        _speed_test_summary(config),
        f"班级数 (classrooms): {len(config.classrooms)}",
        f"设备数 (devices): {len(devices)}（必需 required: {required}）",
        _sync_summary(config.sync_classroom),
    ])


def _speed_test_summary(config: AgentConfig) -> str:
    test = config.speed_test
    if test.server is None:
        return "测速 (speed test): 未配置测速服务器，不测速，出口带宽无数据 (no server set: egress is not measured)"
    return f"测速 (speed test): {test.backend}, 目标 (target) {test.target_mbps:g} Mbps"


def _sync_summary(sync: SyncClassroom | None) -> str:
    if sync is None:
        return "同步课堂 (sync classroom): 未配置 (not configured)"
    per_week = sum(len(session.days) for session in sync.sessions)
    return (f"同步课堂 (sync classroom): 终端 {len(sync.endpoints)} 个 (endpoints), "
            f"同步课 {len(sync.sessions)} 门 (sessions), 每周 {per_week} 节 (per week)")


def _print_problems(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"配置错误 (config error): {problem}", file=sys.stderr)
    print(f"共 {len(error.problems)} 处错误 ({len(error.problems)} problem(s))",
          file=sys.stderr)


_COMMANDS = (_add_validate, _add_check, _add_run)

if __name__ == "__main__":
    sys.exit(main())
