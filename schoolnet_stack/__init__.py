"""Real servers and emulated peers on one machine, for the tests, the demo and the benchmarks.

mosquitto, VictoriaMetrics, vmalert and Alertmanager from Debian's binaries on reserved
loopback ports (servers), shaped links between network namespaces (netns, wire), the
devices and county services a school's checks talk to (peers), a whole school's peers and
its agent.yaml (school), the collector and agent as processes (processes), and the deploy
files rendered for loopback (deploy_files). Product code (agent/, collector/) never
imports this package; it imports the product.
"""
