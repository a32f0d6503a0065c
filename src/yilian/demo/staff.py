"""The people of the demo network: named people from the seeds, generated staff, and who
works where besides home (dual directors, stationed experts, trainees).

Generated names come from Faker('zh_CN') and every choice from one ``random.Random``,
both seeded, so two loads produce the same people in the same order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker import Faker
from sqlalchemy.orm import Session

from yilian.demo import tables
from yilian.demo.network import Network
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Practitioner,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate

Title = PractitionerTitle
Weighted = tuple[tuple[Title, int], ...]


@dataclass(frozen=True)
class Staffing:
    """How a department of some kind of institution is staffed with physicians."""

    director_titles: Weighted
    extra_titles: Weighted
    extras: tuple[int, int]  # how many besides the director, inclusive range
    has_director_role: bool = True


_HOSPITAL = Staffing(
    director_titles=((Title.CHIEF_PHYSICIAN, 8), (Title.ASSOCIATE_CHIEF_PHYSICIAN, 2)),
    extra_titles=(
        (Title.CHIEF_PHYSICIAN, 15),
        (Title.ASSOCIATE_CHIEF_PHYSICIAN, 35),
        (Title.ATTENDING_PHYSICIAN, 35),
        (Title.RESIDENT_PHYSICIAN, 15),
    ),
    extras=(0, 1),
)
_COUNTY = Staffing(
    director_titles=(
        (Title.CHIEF_PHYSICIAN, 2),
        (Title.ASSOCIATE_CHIEF_PHYSICIAN, 6),
        (Title.ATTENDING_PHYSICIAN, 2),
    ),
    extra_titles=((Title.ATTENDING_PHYSICIAN, 5), (Title.RESIDENT_PHYSICIAN, 5)),
    extras=(0, 1),
)
_PRIMARY = Staffing(
    director_titles=((Title.ATTENDING_PHYSICIAN, 7), (Title.RESIDENT_PHYSICIAN, 3)),
    extra_titles=((Title.RESIDENT_PHYSICIAN, 1),),
    extras=(0, 1),
)
_VILLAGE = Staffing(
    director_titles=((Title.VILLAGE_DOCTOR, 1),),
    extra_titles=((Title.VILLAGE_DOCTOR, 1),),
    extras=(0, 1),
    has_director_role=False,  # a village clinic has a doctor, not a department head
)
STAFFING_BY_PROFILE = {
    "tertiary_general": _HOSPITAL,
    "children": _HOSPITAL,
    "stomatology": _HOSPITAL,
    "cancer": _HOSPITAL,
    "tcm": _HOSPITAL,
    "psychiatric": _HOSPITAL,
    "trusteed_county": _COUNTY,
    "county_general": _COUNTY,
    "township": _PRIMARY,
    "community": _PRIMARY,
    "village": _VILLAGE,
}
# Hospitals that send experts elsewhere (staffing "deep" in institutions.csv) keep a deeper
# bench: one or two more per department. Partners outside the core programmes ("none") get
# departments but no generated staff, which keeps the load to a few seconds.
DEEP_BENCH_EXTRAS = (1, 2)
SENIOR_TITLES: Weighted = ((Title.CHIEF_PHYSICIAN, 5), (Title.ASSOCIATE_CHIEF_PHYSICIAN, 5))
EXPERT_TITLES = frozenset({Title.CHIEF_PHYSICIAN, Title.ASSOCIATE_CHIEF_PHYSICIAN})
TRAINEE_TITLES = frozenset({Title.ATTENDING_PHYSICIAN, Title.RESIDENT_PHYSICIAN})
_DENTAL = frozenset({
    "oral_maxillofacial_surgery", "endodontics", "periodontics", "prosthodontics",
    "orthodontics", "paediatric_dentistry", "implantology", "oral_medicine",
    "preventive_dentistry", "stomatology",
})
_TCM = frozenset({"tcm", "acupuncture", "tuina"})


def licence_number(rng: random.Random, *, title: Title, specialty: str, profile: str,
                   region_code: str) -> str:
    """A fictitious number shaped like a 医师执业证书编码: level, category, region, serial.

    Category 1 clinical, 2 Chinese medicine, 3 dental (医师资格类别). Village doctors hold a
    乡村医生执业证书 instead, numbered here by region and serial.
    """
    if title is Title.VILLAGE_DOCTOR:
        return f"{region_code}{rng.randrange(10**5, 10**6)}"
    if specialty in _DENTAL:
        category = 3
    elif specialty in _TCM or profile == "tcm":
        category = 2
    else:
        category = 1
    return f"1{category}{region_code}{rng.randrange(10**6, 10**7)}"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (clamped to the 28th so every month has it)."""
    month_index = day.month - 1 + months
    return date(day.year + month_index // 12, month_index % 12 + 1, min(day.day, 28))


@dataclass
class Staff:
    """Creates the practitioners and their roles; remembers who was generated where."""

    session: Session
    network: Network
    rng: random.Random
    faker: Faker
    practitioners: int = 0
    roles: int = 0
    generated: dict[str, list[Practitioner]] = field(default_factory=dict)
    _numbers: dict[str, int] = field(default_factory=dict)
    _directed: set[tuple[str, str]] = field(default_factory=set)

    # ------------------------------------------------------------ building blocks

    def _pick(self, weighted: Weighted) -> Title:
        titles = [title for title, _ in weighted]
        weights = [weight for _, weight in weighted]
        return self.rng.choices(titles, weights=weights)[0]

    def _person(self) -> tuple[str, str]:
        if self.rng.random() < 0.5:
            return f"{self.faker.last_name()}{self.faker.first_name_male()}", "male"
        return f"{self.faker.last_name()}{self.faker.first_name_female()}", "female"

    def _next_code(self, institution_code: str) -> str:
        number = self._numbers.get(institution_code, 0) + 1
        self._numbers[institution_code] = number
        return f"{institution_code}-{number:03d}"

    def add_practitioner(self, *, institution_code: str, department: Department | None,
                         title: Title, specialty: str) -> Practitioner:
        """A generated practitioner at home in the institution (and department)."""
        name, sex = self._person()
        institution = self.network.institutions[institution_code]
        practitioner = registry.create_practitioner(
            self.session,
            data=PractitionerCreate(
                code=self._next_code(institution_code),
                name=name,
                sex=sex,
                title=title,
                specialty=specialty,
                institution_code=institution_code,
                department_code=department.code if department else None,
                license_number=licence_number(
                    self.rng, title=title, specialty=specialty,
                    profile=self.network.profiles[institution_code],
                    region_code=institution.region_code,
                ),
            ),
        )
        self.practitioners += 1
        return practitioner

    def add_role(self, *, practitioner_code: str, institution_code: str,
                 department_code: str | None, role: PractitionerRoleKind, start: date,
                 end: date | None = None) -> None:
        """A role at an institution, home or elsewhere."""
        registry.create_role(
            self.session,
            data=PractitionerRoleCreate(
                practitioner_code=practitioner_code,
                institution_code=institution_code,
                department_code=department_code,
                role=role,
                start_date=start,
                end_date=end,
            ),
        )
        self.roles += 1
        if role is PractitionerRoleKind.DEPARTMENT_DIRECTOR and department_code:
            self._directed.add((institution_code, department_code))

    # ------------------------------------------------------------ the steps

    def create_named_people(self) -> None:
        """People the seed articles name, with the roles the articles give them."""
        for row in tables.read("people.csv"):
            registry.create_practitioner(
                self.session,
                data=PractitionerCreate(
                    code=row["code"],
                    name=row["name"],
                    sex=row["sex"],
                    title=Title(row["title"]),
                    specialty=row["specialty"],
                    institution_code=row["institution_code"],
                    department_code=tables.optional(row, "department_code"),
                ),
            )
            self.practitioners += 1
        for row in tables.read("people_roles.csv"):
            self.add_role(
                practitioner_code=row["practitioner_code"],
                institution_code=row["institution_code"],
                department_code=tables.optional(row, "department_code"),
                role=PractitionerRoleKind(row["role"]),
                start=date.fromisoformat(row["start_date"]),
                end=tables.optional_date(row, "end_date"),
            )

    def create_department_staff(self) -> None:
        """A director and a few colleagues per department (named directors are kept)."""
        for code in self.network.institutions:
            staff = self.generated.setdefault(code, [])
            level = self.network.staffing[code]
            if level == "none":
                continue
            staffing = STAFFING_BY_PROFILE[self.network.profiles[code]]
            low, high = DEEP_BENCH_EXTRAS if level == "deep" else staffing.extras
            for department in self.network.departments[code].values():
                if (code, department.code) not in self._directed:
                    director = self.add_practitioner(
                        institution_code=code, department=department,
                        title=self._pick(staffing.director_titles),
                        specialty=department.specialty,
                    )
                    staff.append(director)
                    if staffing.has_director_role:
                        self.add_role(
                            practitioner_code=director.code, institution_code=code,
                            department_code=department.code,
                            role=PractitionerRoleKind.DEPARTMENT_DIRECTOR,
                            start=date(self.rng.randint(2008, 2021), self.rng.randint(1, 12), 1),
                        )
                for _ in range(self.rng.randint(low, high)):
                    staff.append(
                        self.add_practitioner(
                            institution_code=code, department=department,
                            title=self._pick(staffing.extra_titles),
                            specialty=department.specialty,
                        )
                    )

    def appoint_executive_directors(self) -> None:
        """双主任制: an expert of the partner runs the discipline beside the local director.

        Each expert is a senior physician of the sending hospital's department of the same
        code, created for the purpose, holding an executive-director role at the campus.
        """
        for row in tables.read("executive_directors.csv"):
            target = self.network.department(row["to_code"], row["department_code"])
            if target is None:
                raise ValueError(f"executive_directors.csv: {row['to_code']} has no "
                                 f"department {row['department_code']}")
            expert = self.add_practitioner(
                institution_code=row["from_code"],
                department=self.network.department(row["from_code"], row["department_code"]),
                title=self._pick(SENIOR_TITLES),
                specialty=target.specialty,
            )
            self.add_role(
                practitioner_code=expert.code, institution_code=row["to_code"],
                department_code=target.code, role=PractitionerRoleKind.EXECUTIVE_DIRECTOR,
                start=date.fromisoformat(row["start_date"]),
            )

    def second_staff(self) -> None:
        """Stationed and visiting experts, remote consultants and trainees, in cohorts.

        Fixed-length postings rotate in four cohorts ``months`` apart; the last cohort is
        still in post (no end date). Open-ended postings (months = 0) start a fortnight apart.
        """
        for row in tables.read("secondments.csv"):
            role = PractitionerRoleKind(row["role"])
            to_code = row["to_code"]
            titles = TRAINEE_TITLES if role is PractitionerRoleKind.TRAINEE else EXPERT_TITLES
            candidates = [
                practitioner
                for practitioner in self.generated[row["from_code"]]
                if practitioner.title in titles
                and (
                    role is PractitionerRoleKind.TRAINEE
                    or self.network.department_for(to_code, practitioner.specialty) is not None
                )
            ]
            chosen = self.rng.sample(candidates, min(int(row["count"]), len(candidates)))
            base, months = date.fromisoformat(row["start_date"]), int(row["months"])
            for index, practitioner in enumerate(chosen):
                department = self.network.department_for(to_code, practitioner.specialty)
                if months:
                    cohort = index % 4
                    start = add_months(base, cohort * months)
                    end = None if cohort == 3 else add_months(start, months) - timedelta(days=1)
                else:
                    start, end = base + timedelta(days=14 * (index % 6)), None
                self.add_role(
                    practitioner_code=practitioner.code, institution_code=to_code,
                    department_code=department.code if department else None,
                    role=role, start=start, end=end,
                )

