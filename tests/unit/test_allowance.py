"""Reading the key's allowance: adopted when VirusTotal answers, configuration kept when not."""

from concurrent.futures import Future

from dxlvtservice.core.quota import Limits
from dxlvtservice.errors import ServiceError
from dxlvtservice.lookups.allowance import AllowanceWatch
from dxlvtservice.lookups.ledger import SharedQuota
from dxlvtservice.lookups.upstream import OVERALL_QUOTAS


class OneAnswer:
    """A scheduler stand-in that answers the allowance read at once."""

    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.calls = answer, error, []

    def submit(self, call, deadline=None):
        self.calls.append(call)
        future = Future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result([self.answer])
        return future


def quotas(day_allowed, day_used, month_allowed, month_used):
    def window(allowed, used):
        return {"user": {"allowed": allowed, "used": used}, "group": {"allowed": 0, "used": 0}}

    return {"data": {"api_requests_hourly": window(240, 3),
                     "api_requests_daily": window(day_allowed, day_used),
                     "api_requests_monthly": window(month_allowed, month_used)}}  # fmt: skip


def watch(tmp_path, scheduler):
    ledger = SharedQuota(tmp_path, Limits(per_day=500, per_month=None))
    allowance = AllowanceWatch(scheduler, ledger, interval=3600)
    allowance.start()
    allowance.stop()
    return allowance, ledger


def test_the_lower_allowance_is_in_force_and_used_units_are_taken(tmp_path):
    scheduler = OneAnswer(quotas(200, 100, 15500, 4000))
    allowance, ledger = watch(tmp_path, scheduler)
    assert scheduler.calls[0].endpoint == OVERALL_QUOTAS and scheduler.calls[0].units == 1
    assert allowance.to_dict()["status"] == "ok"
    assert (ledger.limits.per_day, ledger.limits.per_month) == (200, 15500)
    usage = ledger.usage()
    assert usage["per_day"]["left"] == 100 and usage["per_month"]["used"] == 4000
    ledger.close()


def test_a_failed_read_leaves_the_configuration_in_force_and_says_why(tmp_path):
    scheduler = OneAnswer(error=ServiceError(502, "VirusTotal answered HTTP 500"))
    allowance, ledger = watch(tmp_path, scheduler)
    assert allowance.to_dict()["status"] == "failed"
    assert allowance.to_dict()["error"] == "VirusTotal answered HTTP 500"
    assert ledger.limits == Limits(per_day=500, per_month=None)
    ledger.close()


def test_an_answer_without_allowances_is_a_failed_read(tmp_path):
    allowance, ledger = watch(tmp_path, OneAnswer({"data": {}}))
    assert allowance.to_dict()["status"] == "failed"
    assert ledger.limits.per_day == 500
    ledger.close()
