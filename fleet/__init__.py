"""The county's fleet made from its roster: each school's agent.yaml, credential and install
bundle, the broker's accounts, and the alert routes, written into one state folder.
"""
