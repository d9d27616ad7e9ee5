"""`./scripts/demo`: the whole schoolnet pipe on this machine, with simulated schools.

Six schools in two counties (some rural, some with planted faults) run the real agent
(`python -m agent.cli run`) against classroom devices, uplink targets, sync-classroom
peers and a speed-test server emulated on 127.0.0.0/8; the real collector, mosquitto,
VictoriaMetrics, vmalert (the deploy rules) and Alertmanager (the deploy routing) carry
their reports; the demo then prints the county figures and the alerts county IT got.

It runs the stack the tests run (schoolnet_stack): the real-server runners (reserved
loopback ports, health waits, clean stops), the protocol peers, the collector process, and
the deploy files rendered for loopback (deploy_files: the one place that shortens the
deploy rules' `for:` and points Alertmanager's receivers at a webhook), so the demo runs
exactly what the tests check.

    schools   the simulated schools, their faults, their agent configs (pure)
    peers     the emulated devices and county services (in this process)
    pipe      the central servers, the collector and agents (subprocesses)
    report    reading the figures back and printing them
"""
