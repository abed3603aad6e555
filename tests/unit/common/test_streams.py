"""Subject naming: any key becomes one valid, reversible subject token."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bosun_common.bus import backoff_delay
from bosun_common.streams import DEFAULT_LAYOUT, object_subject, token, untoken


@given(st.text(max_size=60))
def test_token_is_one_valid_subject_token_and_reversible(raw: str) -> None:
    tok = token(raw)
    assert tok and not any(c in tok for c in ". *>\t\r\n")
    assert untoken(tok) == raw


def test_object_subject_keeps_dotted_names_in_one_token() -> None:
    subject = object_subject("state", "kro.run/v1alpha1", "ResourceGraphDefinition", None, "webapp.kro.run")
    assert subject.split(".") == [
        "state",
        "kro%2Erun%2Fv1alpha1",
        "ResourceGraphDefinition",
        "%",
        "webapp%2Ekro%2Erun",
    ]


def test_layout_declares_the_design_streams_and_buckets() -> None:
    streams = {s.name: s for s in DEFAULT_LAYOUT.streams}
    assert set(streams) == {"STATE", "CHANGES", "PLANS", "OUTCOMES", "DEADLETTER"}
    assert streams["STATE"].max_msgs_per_subject == 1  # compacted: last message per subject
    assert streams["PLANS"].retention == "workqueue"
    assert {b.bucket for b in DEFAULT_LAYOUT.buckets} == {
        "leases",
        "catalog",
        "schemas",
        "watches",
        "plan-fences",
    }


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(50) == 30.0
