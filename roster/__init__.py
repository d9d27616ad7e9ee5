"""The county's roster: the one workbook a bureau keeps of its schools, classes, devices,
enrolment and contracted bandwidth, and the settings every figure is judged by.

The roster is the denominator: a declared school that never reports is not compliant, not
absent. `roster.model` holds the plain values; the fleet tool reads a workbook into them and
turns them into each school's config, credential and route; reports count against them.
"""
