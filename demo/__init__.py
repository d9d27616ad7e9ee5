"""`./scripts/demo`: the whole schoolnet pipe on this machine, with simulated schools.

Six schools in two counties (some rural, some with planted faults) run the real agent
(`python -m agent.cli run`) against classroom devices, uplink targets, sync-classroom
peers and a speed-test server emulated on 127.0.0.0/8; the real collector, mosquitto,
VictoriaMetrics, vmalert (the deploy rules) and Alertmanager (the deploy routing) carry
their reports; the demo then prints the county figures and the alerts county IT got.

It imports schoolnet_stack.servers and schoolnet_stack.peers on purpose: they are the real-server
runners (free loopback ports, health waits, clean stops) and the protocol peers that the
test suite already trusts, so the demo runs exactly what the tests check. Likewise
schoolnet_stack.deploy_files: the one place that shortens the deploy rules' `for:` and points
Alertmanager's receivers at a webhook, so demo and scenario tests change the same things.

    schools   the simulated schools, their faults, their agent configs (pure)
    peers     the emulated devices and county services (in this process)
    pipe      the central servers, the collector and agents (subprocesses)
    report    reading the figures back and printing them
"""
