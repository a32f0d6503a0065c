"""ORU^R01 messages as the Huailai campus's LIS and PACS send them (test helper)."""

from __future__ import annotations

from datetime import datetime

from yilian.results.recognition import BEIJING


def stamp(instant: datetime) -> str:
    """An HL7 DTM in Beijing time."""
    return instant.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields by number, the others empty."""
    return "|".join([name, *(fields.get(n, "") for n in range(1, max(fields) + 1))])


def oru(control_id: str, *groups: str, local_id: str = "HL000123",
        facility: str = "PKUPH-HL") -> str:
    """An ORU^R01 for one patient with the given OBR groups."""
    msh = (f"MSH|^~\\&|LIS|{facility}|YILIAN|YILIAN|20261201080000||ORU^R01^ORU_R01"
           f"|{control_id}|P|2.5")
    pid = segment("PID", {1: "1", 3: f"{local_id}^^^{facility}^PI", 5: "宋^桂兰",
                          7: "19620314", 8: "F"})
    return "\r".join([msh, pid, *groups]) + "\r"


def chest_ct(performed: datetime, *, accession: str = "CT20261119001", status: str = "F",
             code: str = "JJJ-E010", uid: str = "1.2.156.112605.14038.20261119.1") -> str:
    """A chest CT: study UID, viewer link and the radiologist's conclusion."""
    obr = segment("OBR", {1: "1", 3: accession, 4: f"{code}^胸部CT平扫^YLJJJ",
                          7: stamp(performed), 24: "放射科", 25: status})
    return "\r".join([
        obr,
        segment("OBX", {1: "1", 2: "ST", 3: "110180^Study Instance UID^DCM", 5: uid, 11: "F"}),
        segment("OBX", {1: "2", 2: "RP", 3: "VIEWER^影像浏览^99YL",
                        5: f"https://pacs.pkuph-hl.example/viewer?study={uid}", 11: "F"}),
        segment("OBX", {1: "3", 2: "TX", 3: "IMP^诊断结论^99YL",
                        5: "双肺纹理清晰，未见明显实质性病变", 11: "F"}),
    ])


def blood_count(performed: datetime, *, accession: str = "LAB20261119007") -> str:
    """A complete blood count: haemoglobin, white cells, platelets."""
    obr = segment("OBR", {1: "2", 3: accession, 4: "JJJ-L001^血常规^YLJJJ",
                          7: stamp(performed), 24: "检验科", 25: "F"})
    values = [("718-7^血红蛋白^LN", "128", "g/L", "115-150", "N"),
              ("6690-2^白细胞计数^LN", "11.2", "10*9/L", "3.5-9.5", "H"),
              ("777-3^血小板计数^LN", "210", "10*9/L", "125-350", "N")]
    return "\r".join([obr, *(
        segment("OBX", {1: str(n), 2: "NM", 3: code, 5: value, 6: unit, 7: ref, 8: flag,
                        11: "F"})
        for n, (code, value, unit, ref, flag) in enumerate(values, start=1))])
