"""Loading the demo network: once, through the real services, in the caller's transaction."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from faker import Faker
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, lazyload

from yilian.analytics import demo as analytics_demo
from yilian.analytics import metric_refresh
from yilian.auth import service as users
from yilian.config import Settings
from yilian.consultations import demo as consultations_demo
from yilian.demo import accounts, network, staff
from yilian.demo import patients as demo_patients
from yilian.demo.report import DemoReport
from yilian.notify import demo as notify_demo
from yilian.referrals import demo as demo_referrals
from yilian.registry import service as registry
from yilian.registry.models import AgreementType
from yilian.results import demo as results_demo
from yilian.scheduling import demo as scheduling_demo
from yilian.settlement import demo as settlement_demo

SEED = 2026
# The network counts as loaded when the Huailai campus exists (it is created by nothing else).
MARKER_INSTITUTION = accounts.HUAILAI_CAMPUS


def load(session: Session, settings: Settings, *, password: str) -> DemoReport:
    """Load the Jing-Jin-Ji demo network and one login per role; a second call changes nothing.

    Flushes only: the caller commits (the CLI's unit of work, a test, a fixture).
    """
    users.check_password_rules(password)
    if registry.get_institution_by_code(session, code=MARKER_INSTITUTION) is None:
        with eager_loading_off(session):
            report = build_network(session, password=password)
        report.patients_by_link = demo_patients.create_patients(session, settings)
        for method, count in demo_patients.create_partner_patients(session, settings).items():
            report.patients_by_link[method] = report.patients_by_link.get(method, 0) + count
        song = demo_patients.create_song(session, settings)
        demo_referrals.create_referrals(session, settings)
        settlement_demo.load(session)
        results_demo.load(session, song, registered=settings.demo_patient_records)
    else:
        report = DemoReport(password=password, network_created=False)
    report.logins, report.password_opens_logins = accounts.ensure_accounts(
        session, password=password
    )
    notify_demo.create_welcome(session, user_ids=[
        user.id for login in report.logins
        if (user := users.get_by_username(session, username=login.username)) is not None])
    if report.network_created:
        report.practitioner_roles += scheduling_demo.create(session, settings).registry_roles
        made = consultations_demo.create(session, settings, password=password)
        report.consultations, report.consultation_accounts = made.consultations, made.accounts
        # Last, so the aggregate it rebuilds counts every encounter the demo made.
        history = analytics_demo.load(session, settings, scale=settings.demo_history_scale)
        report.encounters = history.encounters
        # The dashboards read aggregates: count the demo's referrals, consultations,
        # clinics and settlements once, as `yilian analytics refresh` would.
        metric_refresh.refresh_metrics(session)
    return report


@contextmanager
def eager_loading_off(session: Session) -> Iterator[None]:
    """Load related rows only when touched, for the queries this session runs meanwhile.

    The registry models eager-load relationships for API reads (an institution's region,
    parent and centres with every department or practitioner). The demo looks thousands of
    rows up by code and never reads those relationships: switching eager loading off halves
    its statements. The services and their rules run unchanged.
    """

    def lazy_selects(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(lazyload("*"))

    event.listen(session, "do_orm_execute", lazy_selects)
    try:
        yield
    finally:
        event.remove(session, "do_orm_execute", lazy_selects)


def build_network(session: Session, *, password: str) -> DemoReport:
    """Regions, institutions, departments, people, roles and agreements, in that order."""
    report = DemoReport(password=password, network_created=True)
    built = network.Network()
    report.regions = network.create_regions(session)
    report.institutions = network.create_institutions(session, built)
    report.departments = network.create_departments(session, built)

    faker = Faker("zh_CN")
    faker.seed_instance(SEED)
    people = staff.Staff(session=session, network=built, rng=random.Random(SEED), faker=faker)
    people.create_named_people()
    people.create_department_staff()
    people.appoint_executive_directors()
    people.second_staff()
    report.practitioners = people.practitioners
    report.practitioner_roles = people.roles

    report.agreements_by_type = network.create_agreements(session)
    report.agreements_by_type[AgreementType.NEW_TECHNIQUE] += (
        network.create_new_techniques(session, built)
    )
    return report
