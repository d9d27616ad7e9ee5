"""The same roster from the workbook, from CSV saved as GBK and as UTF-8 with BOM, and the
template a county starts from."""

from __future__ import annotations

from openpyxl import load_workbook

from roster import sample
from roster.columns import SHEETS
from roster.load import load_roster


def test_workbook_and_its_csv_in_either_excel_encoding_give_one_roster(tmp_path):
    sheets = sample.tables(40, 2)
    from_xlsx, notes = load_roster(sample.write_xlsx(tmp_path / "roster.xlsx", sheets))
    from_gbk, _ = load_roster(sample.write_csv(tmp_path / "gbk", sheets, "gbk"))
    from_bom, _ = load_roster(sample.write_csv(tmp_path / "bom", sheets, "utf-8-sig"))
    assert notes == []
    assert from_xlsx == from_gbk == from_bom
    assert len(from_xlsx.schools) == 40
    assert from_xlsx.schools[0].name == "第0学校"  # Chinese survived the GBK round trip
    assert (tmp_path / "gbk" / "学校.csv").read_bytes().count("第0学校".encode("gbk")) == 1


def test_the_settings_reach_the_model(tmp_path):
    roster, _ = load_roster(sample.write_xlsx(tmp_path / "roster.xlsx", sample.tables(10, 1)))
    settings = roster.settings
    assert settings.default_target_mbps == 100.0
    assert settings.target_by_type == {"高中": 1000.0}
    assert [str(days) for days in settings.holidays] == ["2026-10-01..2026-10-07"]
    assert settings.term("2026-2027学年第一学期").days.last.isoformat() == "2027-01-22"
    assert settings.maintenance[0].county == "c00" and settings.maintenance[0].start.hour == 22
    high = next(school for school in roster.schools if school.type == "高中")
    assert roster.egress_target(high) == 1000.0


def test_a_class_without_devices_is_declared_but_not_equipped(tmp_path):
    roster, _ = load_roster(sample.write_xlsx(tmp_path / "roster.xlsx", sample.tables(4, 1)))
    rooms = {room.id: room for room in roster.schools[0].classrooms}
    assert len(rooms) == 6 and not rooms["c6"].equipped and rooms["c1"].equipped


def test_the_template_has_headers_examples_and_drop_downs_and_reads_back(tmp_path):
    from roster.template import write_template
    path = tmp_path / "template.xlsx"
    write_template(path)
    book = load_workbook(path)
    assert book.sheetnames == [spec.title for spec in SHEETS]
    schools = book["学校"]
    assert [cell.value for cell in schools[1]][:5] == ["县代码", "学校标识码", "学校名称", "学校类型", "城乡"]
    lists = {str(v.sqref): v.formula1 for v in schools.data_validations.dataValidation}
    assert lists["E2:E5000"] == '"乡村,城区"'
    devices = {str(v.sqref): v.formula1 for v in book["教室设备"].data_validations.dataValidation}
    assert devices["I2:I5000"] == '"是,否"' and "投影仪" in devices["D2:D5000"]
    roster, notes = load_roster(path)
    assert notes == []
    assert [school.id for school in roster.schools] == ["3652000123"]
    assert roster.schools[0].classrooms[1].devices[0].check.method == "pjlink"
