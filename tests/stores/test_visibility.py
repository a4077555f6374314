"""Who may see and answer a request: ``visible_to`` and ``may_answer`` (the stores'
listings are checked against them in ``test_contract_tasks.py``)."""

from __future__ import annotations

from workflows.stores import InputRequest, Viewer, may_answer, visible_to


def _request(**fields: object) -> InputRequest:
    return InputRequest.new("q", "r", "flow", "Ask", {}, now=1.0, **fields)  # type: ignore[arg-type]


def test_visibility_rules() -> None:
    open_to_all = _request()
    for_ada = _request(assignee="ada")
    for_finance = _request(candidate_groups=["finance"], assignee="bob")
    for_cy = _request(candidate_users=["cy"])
    ada = Viewer("ada")
    bob = Viewer("bob")
    fin = Viewer("fay", frozenset({"finance", "ops"}))
    admin = Viewer("root", admin=True)
    assert all(visible_to(v, open_to_all) and may_answer(v, open_to_all) for v in (ada, fin))
    assert visible_to(ada, for_ada) and may_answer(ada, for_ada)
    assert not visible_to(bob, for_ada) and not may_answer(bob, for_ada)
    assert visible_to(fin, for_finance) and not may_answer(fin, for_finance)
    assert visible_to(bob, for_finance) and may_answer(bob, for_finance)
    assert not visible_to(ada, for_finance)
    assert visible_to(Viewer("cy"), for_cy) and not visible_to(ada, for_cy)
    assert all(visible_to(admin, r) and may_answer(admin, r) for r in (for_ada, for_finance))
