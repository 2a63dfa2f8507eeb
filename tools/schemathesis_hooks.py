"""Schemathesis hooks for the contract test (tests/integration/contract.rs, tools/schemathesis.toml).

What a JSON Schema cannot say about openapi/kyc-hooks.json, said here for the tester, each from a
rule the document states in prose:
- values of the three formats the document defines (`kyc-history-cursor`, `iban`,
  `kyc-end-date`), so that the tester draws valid ones as well as invalid ones;
- `/xpollens/callbacks/{type}`: the URL's type and the body's agree, and a known type names its
  customer (a rule across the path and the body);
- the IAM routes refuse a request without a SigV4 Authorization header with 403 (what API Gateway's
  IAM authorizer answers, and the functions when a route lacks it), where schemathesis' own
  missing-header check wants 401;
- `GET /gopay/callback` is the customer's browser: every refusal is a 302 to the failure page.
"""

import base64
import json
import re
import string

import schemathesis
from hypothesis import strategies as st

# --- formats -------------------------------------------------------------------------------


def _cursor(time, provider, event_id):
    # A history position (kyc_core::keys::HistoryPosition): HIST#<time>#<provider>#<escaped id>.
    position = f"HIST#{time}#{provider}#{event_id}"
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


_TIMES = st.builds(
    lambda y, mo, d, h, mi, s, us: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}Z",
    st.integers(2000, 2099),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999_999),
)
_ESCAPED_IDS = st.text(
    alphabet=[c for c in string.printable if c.isprintable() and not c.isspace() and c != "#"],
    min_size=1,
    max_size=64,
)
schemathesis.openapi.format(
    "kyc-history-cursor",
    st.builds(_cursor, _TIMES, st.sampled_from(["xpollens", "trust_sign", "gopay"]), _ESCAPED_IDS),
)


def _iban(country, bban):
    # ISO 13616: check digits make the number (BBAN + country + "00", letters as 10..35) ≡ 1 mod 97.
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


schemathesis.openapi.format(
    "iban",
    st.builds(
        _iban,
        st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2),
        st.text(alphabet=string.ascii_uppercase + string.digits, min_size=11, max_size=30),
    ),
)


def _end_date(days_back):
    # `kyc-end-date`: a relationship's end, from 2000-01-01 to today (UTC), as the lifecycle
    # route takes it (another date is a 422, documented).
    import datetime

    today = datetime.datetime.now(datetime.timezone.utc).date()
    start = datetime.date(2000, 1, 1)
    return (today - datetime.timedelta(days=days_back % ((today - start).days + 1))).isoformat()


schemathesis.openapi.format("kyc-end-date", st.builds(_end_date, st.integers(0, 100_000)))

# --- /xpollens/callbacks/{type}: the URL's type and the body ---------------------------------

# Numbers, and the named PEP screening (compared case-insensitively, as the handler does).
KNOWN_TYPES = {4, 15, 31, 34, 35, 36, 47, 48, "politicallyexposedpersonstatuscreatedorupdated"}
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_CONTROL = "\u0000-\u001f\u007f-\u009f"
_SUBJECT = re.compile(rf"\s*[^\s{_CONTROL}](?:[^{_CONTROL}]*[^\s{_CONTROL}])?\s*")


def _scalar_text(value):
    """kyc_xpollens::lenient::scalar_text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _callback_type(value):
    """The type as the handler parses it (kyc_xpollens::callbacks::CallbackType::parse): a number
    (Rust's u32 FromStr), else a word (letters, digits, `_`, `-`, `.`; lower-cased: compared
    case-insensitively), or None."""
    text = _scalar_text(value)
    if text is None:
        return None
    if re.fullmatch(r"\+?[0-9]+", text) and int(text) <= 0xFFFF_FFFF:
        return int(text)
    return text.lower() if _WORD.fullmatch(text) else None


def _valid_subject(value):
    if isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, str) and len(value) <= 128 and _SUBJECT.fullmatch(value) is not None


@schemathesis.hook
def before_call(context, case, kwargs):
    # Every phase's requests pass here (the coverage phase's too, unlike map_case).
    if case.operation.path != "/xpollens/callbacks/{type}":
        return
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    path_type = _callback_type((case.path_parameters or {}).get("type"))
    body = case.body
    if path_type is None or not isinstance(body, dict):
        return
    form = (case.media_type or "").startswith("application/x-www-form-urlencoded")
    if form:
        # A form carries text. The coverage phase writes null, true, 4 as such, the fuzzing
        # phase's transport drops a null field (an all-null form goes out empty): write them
        # as text here, so both phases send what the case says.
        for key, value in list(body.items()):
            if isinstance(value, list):
                body[key] = [_form_text(v) for v in value]
            else:
                body[key] = _form_text(value)
    fields = body["Header"] if isinstance(body.get("Header"), dict) else body
    raw_type = fields.get("type", body.get("type"))
    has_type = "type" in fields or "type" in body
    if form and has_type and isinstance(raw_type, list):
        # A repeated form field: every occurrence the URL's type, whichever the handler reads.
        path_text = _scalar_text(case.path_parameters["type"])
        if any(_callback_type(_form_text(v)) != path_type for v in raw_type):
            target = fields if "type" in fields else body
            target["type"] = [path_text] * len(raw_type)
        return _fix_subject(fields, path_type)
    if form and has_type:
        raw_type = _form_text(raw_type)
    body_type = _callback_type(raw_type)
    if body_type is not None and body_type != path_type:
        fields["type"] = _scalar_text(case.path_parameters["type"])
        body_type = path_type
    _fix_subject(fields, body_type or path_type)


def _form_text(value):
    """A form carries text: the tester writes null, true, 4 as such (the handler reads "null"
    as a named type)."""
    return value if isinstance(value, (str, dict, list)) else json.dumps(value)


def _fix_subject(fields, callback_type):
    if callback_type in KNOWN_TYPES and not _valid_subject(fields.get("appUserId")):
        fields["appUserId"] = "contract-customer"


# --- checks --------------------------------------------------------------------------------

IAM_OPERATIONS = {
    ("GET", "/customers/{id}/kyc"),
    ("GET", "/customers/{id}/kyc/history"),
    ("POST", "/gopay/consents"),
    ("POST", "/gopay/consents/complete"),
}


def _without_authorization(case):
    meta = case.meta
    data = getattr(getattr(meta, "phase", None), "data", None)
    parameter = getattr(data, "parameter", None)
    scenario = getattr(data, "scenario", None)
    return (
        parameter is not None
        and parameter.lower() == "authorization"
        and getattr(scenario, "name", "") == "MISSING_PARAMETER"
    )


@schemathesis.check
def iam_route_refuses_a_request_without_signature(ctx, response, case):
    """Without a SigV4 Authorization header, an IAM route answers 403 with the documented body
    (replaces missing_required_header's 401 on these routes, see tools/schemathesis.toml)."""
    if (case.method.upper(), case.operation.path) not in IAM_OPERATIONS or not _without_authorization(case):
        return None
    if response.status_code != 403:
        raise AssertionError(f"an IAM route answered {response.status_code} without a signature, expected 403")
    return None


FAILURE_PAGE = "https://app.example/gopay/failed"


@schemathesis.check
def gopay_callback_refusals_land_on_the_failure_page(ctx, response, case):
    """`GET /gopay/callback` with a request that breaks the documented rules: a 302 to the failure
    page (replaces negative_data_rejection's 4xx on this browser route)."""
    if case.operation.path != "/gopay/callback" or case.method.upper() != "GET" or case.meta is None:
        return None
    if not case.meta.generation.mode.is_negative:
        return None
    location = response.headers.get("location", [""])
    location = location[0] if isinstance(location, list) else location
    if response.status_code != 302 or not location.startswith(FAILURE_PAGE + "?"):
        raise AssertionError(
            f"a refused browser callback answered {response.status_code} to {location!r}, expected 302 to the failure page"
        )
    return None
