from __future__ import annotations

import pytest

from bench import schools
from schoolnet_core import contract

NOW_MS = 1_795_570_200_000


@pytest.mark.parametrize("number", [0, 1, 4, 8, 1234, 9999])
def test_every_simulated_message_is_valid_and_its_points_counted(number):
    for kind, made in schools.school_templates(number).items():
        message = contract.validate(made.topic, made.payload(NOW_MS), NOW_MS)

        assert isinstance(message, contract.Message), message
        assert (message.kind, message.school, message.ts_ms) == (kind, schools.school_of(number), NOW_MS)
        assert made.points == len(contract.to_points(message))


def test_the_mix_of_sizes_rural_schools_and_markers():
    shapes = [schools.shape_of(number) for number in range(10)]
    assert [shape.classes for shape in shapes] == [6] * 4 + [12] * 4 + [30] * 2
    assert sum(shape.rural for shape in shapes) == 7
    assert "sync" not in schools.minute_kinds(schools.shape_of(1))
    assert schools.minute_kinds(schools.shape_of(0)).count("broadband") == 2
    assert [schools.school_of(n) for n in (0, 1, 100)] == ["m00000", "s00001", "m00100"]
    assert schools.county_of(9999) == "c099"


def test_a_county_of_10000_schools_sends_about_50_points_a_minute_each():
    messages, points = schools.minute_load(10_000)
    assert messages == 47_000
    assert 45 <= points / 10_000 <= 55


def test_series_lines_name_the_school_and_never_its_model():
    text = schools.series_lines(1234, NOW_MS)

    lines = text.splitlines()
    assert len(lines) == sum(made.points for made in schools.school_templates(1234).values())
    assert all("county=c012," in line and "school=s01234" in line for line in lines)
    assert "s00004" not in text and "county=c000" not in text
