"""Handler unit tests (fakes, no I/O): what an applicant or operations ask through the HTTP API:
binding an e-key (present on a signer host, or by its certificate) and revoking an application."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from ail_shared import topics
from ail_shared.errors import Conflict, InvalidInput, NotFound
from ail_shared.events import ApplicationRevoked, EkeyBound, EkeyUnbound
from ail_shared.lifecycle import ApplicationStatus
from ail_submission.adapters.mofcom import Accepted, MofcomUnavailable, Refused, Unavailable
from ail_submission.domain.commands import BindEkey, BindEkeyByCertificate, RevokeApplication, UnbindEkey
from ail_submission.domain.model import ACCEPTED, SIGNED, Submission
from ail_submission.service_layer import handlers
from tests.unit.submission.fakes import (
    ENTERPRISE,
    SERIAL,
    T0,
    FakeApplicationService,
    FakeMofcom,
    FakeUnitOfWork,
    a_submission,
    view_of,
)
from tests.unit.support import make_cert

FORM = "26110077636755500001"

# ---------------------------------------------------------------- BindEkey


async def test_binding_a_present_key_registers_its_certificate_and_announces_the_binding() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.announce(certificate_pem="CERT-A", subject=f"CN=k,O={ENTERPRISE}")
    binding = await handlers.bind_ekey(
        uow, BindEkey(enterprise_code=ENTERPRISE, ekey_serial=SERIAL, bound_by="user-1"), mofcom=mofcom
    )
    assert binding.ekey_serial == SERIAL and binding.bound_by == "user-1"
    assert mofcom.called("register_certificate") == [
        {"enterprise_code": ENTERPRISE, "ekey_serial": SERIAL, "certificate_pem": "CERT-A"}
    ]
    assert uow.ekeys.bound[ENTERPRISE].certificate_pem == "CERT-A"  # type: ignore[attr-defined]
    [bound] = uow.events(EkeyBound)
    assert bound.enterprise_code == ENTERPRISE and bound.certificate_pem == "CERT-A"
    assert uow.topics_of(EkeyBound) == [(topics.SUBMISSION, ENTERPRISE)]


async def test_binding_a_key_no_host_holds_names_the_field_and_asks_nothing_of_mofcom() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.announce("another-key")
    with pytest.raises(InvalidInput) as refused:
        await handlers.bind_ekey(
            uow, BindEkey(enterprise_code=ENTERPRISE, ekey_serial=SERIAL, bound_by="u"), mofcom=mofcom
        )
    [problem] = refused.value.problems
    assert problem.field == "ekey_serial" and "plugged into a signer host" in problem.reason
    assert mofcom.calls == [] and uow.published == []


async def test_a_key_of_another_enterprise_is_not_present_for_this_one() -> None:
    uow = FakeUnitOfWork()
    uow.announce(enterprise_codes=("3100123456789",))
    with pytest.raises(InvalidInput):
        await handlers.bind_ekey(
            uow, BindEkey(enterprise_code=ENTERPRISE, ekey_serial=SERIAL, bound_by="u"), mofcom=FakeMofcom()
        )


async def test_a_certificate_mofcom_refuses_is_not_bound() -> None:
    uow = FakeUnitOfWork()
    uow.announce()
    mofcom = FakeMofcom(registrations=[Refused("certificate_expired", "证书已过期")])
    with pytest.raises(InvalidInput) as refused:
        await handlers.bind_ekey(
            uow, BindEkey(enterprise_code=ENTERPRISE, ekey_serial=SERIAL, bound_by="u"), mofcom=mofcom
        )
    assert refused.value.problems[0].reason == "certificate_expired: 证书已过期"
    assert uow.ekeys.bound == {} and uow.published == [] and uow.rollbacks == 1  # type: ignore[attr-defined]


async def test_binding_while_mofcom_is_away_is_a_503_and_binds_nothing() -> None:
    uow = FakeUnitOfWork()
    uow.announce()
    with pytest.raises(MofcomUnavailable) as away:
        await handlers.bind_ekey(
            uow,
            BindEkey(enterprise_code=ENTERPRISE, ekey_serial=SERIAL, bound_by="u"),
            mofcom=FakeMofcom(registrations=[Unavailable("timeout")]),
        )
    assert away.value.status_code == 503 and uow.ekeys.bound == {}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- UnbindEkey (issue 18)


def unbind(enterprise: str = ENTERPRISE, serial: str = SERIAL) -> UnbindEkey:
    return UnbindEkey(enterprise_codes=(enterprise,), ekey_serial=serial, unbound_by="user-2")


async def test_unbinding_withdraws_the_certificate_records_it_and_announces_it() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.bind_key()
    record = await handlers.unbind_ekey(uow, unbind(), mofcom=mofcom)
    assert mofcom.called("withdraw_certificate") == [{"enterprise_code": ENTERPRISE, "ekey_serial": SERIAL}]
    assert uow.ekeys.bound == {}  # type: ignore[attr-defined]
    assert record.unbound_by == "user-2" and record.bound_by == "test"
    [event] = uow.events(EkeyUnbound)
    assert (event.ekey_serial, event.bound_at, event.unbound_by) == (SERIAL, record.bound_at, "user-2")
    assert uow.topics_of(EkeyUnbound) == [(topics.SUBMISSION, ENTERPRISE)]


async def test_unbinding_again_answers_the_recorded_withdrawal_and_asks_mofcom_nothing_more() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.bind_key()
    first = await handlers.unbind_ekey(uow, unbind(), mofcom=mofcom)
    again = await handlers.unbind_ekey(uow, unbind(), mofcom=mofcom)
    assert again == first
    assert len(mofcom.called("withdraw_certificate")) == 1 and len(uow.events(EkeyUnbound)) == 1


async def test_another_enterprises_binding_is_not_found_and_stays() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.bind_key(enterprise="3100123456789")
    with pytest.raises(NotFound):
        await handlers.unbind_ekey(uow, unbind(), mofcom=mofcom)
    assert "3100123456789" in uow.ekeys.bound and mofcom.calls == []  # type: ignore[attr-defined]


async def test_unbinding_while_mofcom_is_away_is_a_503_and_the_key_stays_bound() -> None:
    uow = FakeUnitOfWork()
    uow.bind_key()
    with pytest.raises(MofcomUnavailable):
        await handlers.unbind_ekey(uow, unbind(), mofcom=FakeMofcom(withdrawals=[Unavailable("timeout")]))
    assert ENTERPRISE in uow.ekeys.bound and uow.published == []  # type: ignore[attr-defined]


async def test_unbinding_a_key_whose_signed_submissions_are_on_their_way_is_a_409() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    uow.bind_key()
    uow.put(a_submission(SIGNED, ekey_serial=SERIAL))
    with pytest.raises(Conflict) as busy:
        await handlers.unbind_ekey(uow, unbind(), mofcom=mofcom)
    assert "on their way to MOFCOM" in str(busy.value)
    assert ENTERPRISE in uow.ekeys.bound and mofcom.calls == []  # type: ignore[attr-defined]


# ---------------------------------------------------------------- BindEkeyByCertificate


async def test_binding_by_a_certificate_that_names_the_enterprise() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(registrations=[Accepted("", T0)])
    _, pem = make_cert(ENTERPRISE)
    binding = await handlers.bind_ekey_by_certificate(
        uow,
        BindEkeyByCertificate(enterprise_code=ENTERPRISE, ekey_serial="demo-1", certificate_pem=pem),
        mofcom=mofcom,
    )
    assert binding.bound_by == "internal" and f"O={ENTERPRISE}" in binding.subject
    assert mofcom.called("register_certificate")[0]["certificate_pem"] == pem
    [bound] = uow.events(EkeyBound)
    assert bound.ekey_serial == "demo-1"


async def test_a_certificate_of_another_enterprise_is_refused_before_mofcom_is_asked() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    _, pem = make_cert("3100123456789")
    with pytest.raises(InvalidInput) as refused:
        await handlers.bind_ekey_by_certificate(
            uow,
            BindEkeyByCertificate(enterprise_code=ENTERPRISE, ekey_serial="x", certificate_pem=pem),
            mofcom=mofcom,
        )
    assert refused.value.problems[0].field == "certificate_pem" and mofcom.calls == []


async def test_a_certificate_mofcom_refuses_names_the_certificate() -> None:
    uow = FakeUnitOfWork()
    _, pem = make_cert(ENTERPRISE)
    with pytest.raises(InvalidInput) as refused:
        await handlers.bind_ekey_by_certificate(
            uow,
            BindEkeyByCertificate(enterprise_code=ENTERPRISE, ekey_serial="x", certificate_pem=pem),
            mofcom=FakeMofcom(registrations=[Refused("bad_certificate", "不是 SM2 证书")]),
        )
    assert refused.value.problems[0].field == "certificate_pem" and uow.ekeys.bound == {}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- RevokeApplication


def pending(uow: FakeUnitOfWork, status: str = "pending_first_review") -> Submission:
    sub = a_submission(state=ACCEPTED, form_no=FORM, applied_at=T0)
    uow.put(sub, view_of(sub, status=status, form_no=FORM, applied_at=T0))
    return sub


def revoke_cmd(sub_or_id: Any, reason: str = "") -> RevokeApplication:
    app_id = getattr(sub_or_id, "application_id", sub_or_id)
    return RevokeApplication(
        application_id=app_id,
        enterprise_codes=(ENTERPRISE,),
        credentials=(("authorization", "B"),),
        reason=reason,
    )


async def test_revoke_while_pending_first_review_withdraws_it_at_mofcom() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(revokes=[{"revoked_at": "2026-11-20T03:00:00+00:00"}])
    sub = pending(uow)
    view = await handlers.revoke(
        uow, revoke_cmd(sub), mofcom=mofcom, applications=FakeApplicationService(), clock=uow.clock
    )
    assert mofcom.called("revoke") == [{"form_no": FORM, "reason": ""}]
    assert view.status == "revoked" and view.status_reason == "revoked by applicant"
    assert uow.view(sub.application_id).status == "revoked"
    [revoked] = uow.events(ApplicationRevoked)
    assert revoked.form_no == FORM and revoked.reason == ""
    assert revoked.revoked_at == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # MOFCOM's time
    assert uow.topics_of(ApplicationRevoked) == [(topics.SUBMISSION, str(sub.application_id))]


async def test_the_applicants_revoke_reason_is_kept_in_the_event_and_sent_to_mofcom() -> None:
    """Issue 13, item 11."""
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    sub = pending(uow)
    view = await handlers.revoke(
        uow,
        revoke_cmd(sub, "合同取消"),
        mofcom=mofcom,
        applications=FakeApplicationService(),
        clock=uow.clock,
    )
    assert mofcom.called("revoke") == [{"form_no": FORM, "reason": "合同取消"}]
    assert view.status_reason == "revoked by applicant: 合同取消"
    [revoked] = uow.events(ApplicationRevoked)
    assert revoked.reason == "合同取消"


async def test_revoke_takes_our_clock_when_mofcom_gives_no_time() -> None:
    uow = FakeUnitOfWork()
    sub = pending(uow)
    await handlers.revoke(
        uow,
        revoke_cmd(sub),
        mofcom=FakeMofcom(revokes=[{}]),
        applications=FakeApplicationService(),
        clock=uow.clock,
    )
    assert uow.events(ApplicationRevoked)[0].revoked_at == uow.clock()


@pytest.mark.parametrize(
    "status", [s for s in ApplicationStatus if s is not ApplicationStatus.PENDING_FIRST_REVIEW]
)
async def test_revoke_in_any_other_status_is_a_409_naming_it_and_mofcom_is_not_asked(
    status: ApplicationStatus,
) -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    sub = pending(uow, status=status.value)
    with pytest.raises(
        Conflict, match=f"is {status.value}: revoke is allowed only from pending_first_review"
    ):
        await handlers.revoke(
            uow, revoke_cmd(sub), mofcom=mofcom, applications=FakeApplicationService(), clock=uow.clock
        )
    assert mofcom.calls == [] and uow.published == []


async def test_revoke_of_an_application_never_sent_names_its_status_at_the_application_service() -> None:
    uow, apps = FakeUnitOfWork(), FakeApplicationService()
    app_id = uuid4()
    apps.statuses[app_id] = "draft"
    with pytest.raises(Conflict, match="is draft"):
        await handlers.revoke(
            uow, revoke_cmd(app_id), mofcom=FakeMofcom(), applications=apps, clock=uow.clock
        )
    assert apps.asked == [(app_id, (("authorization", "B"),))]


async def test_revoke_of_an_application_the_caller_may_not_see_is_not_found() -> None:
    uow = FakeUnitOfWork()
    sub = pending(uow)
    other_tenant = RevokeApplication(application_id=sub.application_id, enterprise_codes=("3100123456789",))
    with pytest.raises(NotFound):
        await handlers.revoke(
            uow, other_tenant, mofcom=FakeMofcom(), applications=FakeApplicationService(), clock=uow.clock
        )
    assert uow.view(sub.application_id).status == "pending_first_review"


async def test_revoke_refused_by_mofcom_is_a_409_and_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    sub = pending(uow)
    refusal = Refused("conflict", "已进入审核", 409, {"error": {"status": "pending_second_review"}})
    with pytest.raises(Conflict, match="pending_second_review"):
        await handlers.revoke(
            uow,
            revoke_cmd(sub),
            mofcom=FakeMofcom(revokes=[refusal]),
            applications=FakeApplicationService(),
            clock=uow.clock,
        )
    assert uow.view(sub.application_id).status == "pending_first_review" and uow.published == []


async def test_revoke_while_mofcom_is_away_is_a_503() -> None:
    uow = FakeUnitOfWork()
    sub = pending(uow)
    with pytest.raises(MofcomUnavailable):
        await handlers.revoke(
            uow,
            revoke_cmd(sub),
            mofcom=FakeMofcom(revokes=[Unavailable("timeout")]),
            applications=FakeApplicationService(),
            clock=uow.clock,
        )
    assert uow.view(sub.application_id).status == "pending_first_review"
