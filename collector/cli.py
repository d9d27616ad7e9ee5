"""schoolnet-collector: the central service that stores what the schools' agents send.

    schoolnet-collector run -c /etc/schoolnet/collector.yaml     (under systemd)
    schoolnet-collector check -c /etc/schoolnet/collector.yaml   (after editing the file)
    schoolnet-collector run -c /etc/schoolnet/collector@.yaml --instance 2   (one of several)

Logs are plain lines on stderr, for journald; no secret is ever printed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from collector.config import (
    EXAMPLE_CONFIG,
    MAX_INSTANCE,
    CollectorConfig,
    ConfigError,
    load_config,
    read_secret,
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config, args.instance)
        for ref in config.secret_refs():
            read_secret(ref)
    except ConfigError as error:
        print(f"配置文件有误 / problems in the config file ({len(error.problems)}):", file=sys.stderr)
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        print(f"配置正确 / config OK: {args.config}")
        return EXIT_OK
    return _run(config)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schoolnet-collector",
        description="汇聚各校监测数据写入时序库 / stores what the schools' agents publish",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "运行采集服务 / run the collector"),
        ("check", "检查配置文件 / check the config file and its secrets, then exit"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "-c", "--config", required=True, metavar="FILE",
            help=f"配置文件 / YAML config (example: {EXAMPLE_CONFIG})",
        )  # fmt: skip
        command.add_argument(
            "--instance", type=_instance, metavar="N",
            help=f"本机第 N 个汇聚服务 / the Nth collector of this server (1-{MAX_INSTANCE}): "
                 "{instance} in the config's values becomes N (schoolnet-collector@.service)",
        )  # fmt: skip
        command.add_argument("-v", "--verbose", action="store_true", help="调试日志 / debug logs")
    return parser


def _instance(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_INSTANCE:
        raise argparse.ArgumentTypeError(f"{text!r}: a number 1-{MAX_INSTANCE}")
    return int(text)


def _run(config: CollectorConfig) -> int:
    # Imported here so `check` works without influxdb-client installed.
    from collector.metrics import Metrics, MetricsServer
    from collector.service import Collector

    log = logging.getLogger("schoolnet.collector")
    metrics = Metrics()
    try:
        server = MetricsServer(metrics, config.http.host, config.http.port)
    except OSError as error:
        log.error("cannot listen on %s:%s for /metrics: %s", config.http.host, config.http.port, error)
        return EXIT_FAILED
    try:
        collector = Collector(config, metrics)
    except OSError as error:  # e.g. a ca_file or client certificate that cannot be read
        log.error("cannot set up the collector: %s (check broker.ca_file, cert_file, key_file)", error)
        server.stop()
        return EXIT_FAILED
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: collector.stop())
    server.start()
    log.info("serving /metrics and /healthz on http://%s:%d", config.http.host, server.port)
    collector.start()
    while not collector.wait(timeout=1.0):
        pass
    server.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
