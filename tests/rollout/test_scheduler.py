"""The continuous-batching scheduler: per-request reproducibility, shared prefill, stops, cancellation, sampling."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from r1lab.rollout.scheduler import GenRequest, Scheduler, sample_rows

PROMPT = (5, 6, 7, 8, 9, 10)


@pytest.fixture
def scheduler(qwen2_model):
    tok = _ByteTokenizer()
    s = Scheduler(qwen2_model, tok, max_rows=16).start()
    yield s
    s.close()


class _ByteTokenizer:
    """Token id i decodes to chr(65 + i % 26): enough text for stops and the detokenizer."""

    eos_token_id = 2

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False):
        return "".join(chr(65 + i % 26) for i in ids if not (skip_special_tokens and i == self.eos_token_id))


def _run(s: Scheduler, req: GenRequest) -> list[tuple[str, str, int]]:
    out: dict[int, list] = {}
    for ev in s.stream(req):
        slot = out.setdefault(ev.sample, ["", None, 0])
        slot[0] += ev.text
        if ev.finish:
            slot[1], slot[2] = ev.finish, ev.tokens
    return [tuple(out[j]) for j in sorted(out)]


def test_concurrent_requests_get_their_single_request_reply(scheduler):
    reqs = [GenRequest(PROMPT[: 2 + i % 4], max_tokens=10 + i, n=1 + i % 2, seed=i,
                       temperature=[0.6, 1.0, 0.0][i % 3]) for i in range(12)]
    alone = [_run(scheduler, r) for r in reqs]
    together: list = [None] * len(reqs)
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, _run(scheduler, reqs[i])))
               for i in range(len(reqs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_samples_share_a_prefill_but_draw_their_own_and_shorter_is_a_prefix(scheduler):
    (a, b, c) = _run(scheduler, GenRequest(PROMPT, max_tokens=30, n=3, seed=4, temperature=1.0))
    assert len({a[0], b[0], c[0]}) == 3
    (short,) = _run(scheduler, GenRequest(PROMPT, max_tokens=7, n=1, seed=4, temperature=1.0))
    assert short[1] == "length" and short[2] == 7 and a[0].startswith(short[0])


def test_stop_strings_end_the_row_and_are_not_returned(scheduler):
    ((full, _, _),) = _run(scheduler, GenRequest(PROMPT, max_tokens=40, seed=1, temperature=1.0))
    stop = full[10:12]
    ((text, finish, tokens),) = _run(scheduler, GenRequest(PROMPT, max_tokens=40, seed=1, temperature=1.0,
                                                          stop=(stop, "never")))
    assert (text, finish) == (full[: full.index(stop)], "stop") and tokens == full.index(stop) + 2


def test_cancel_frees_the_rows_and_others_continue(scheduler):
    events = []
    ticket = scheduler.submit(GenRequest(PROMPT, max_tokens=200, n=4, seed=0, ignore_eos=True), events.extend)
    while not events:
        time.sleep(0.001)
    ticket.cancel()
    assert _run(scheduler, GenRequest(PROMPT, max_tokens=5, seed=0)) == \
        _run(scheduler, GenRequest(PROMPT, max_tokens=5, seed=0))
    assert scheduler.cache.rows == 0 and not any(e.finish for e in events)


def test_check_refuses_what_can_never_run(scheduler):
    for bad in [GenRequest((), 5), GenRequest(PROMPT, 0), GenRequest(PROMPT, 5, n=17),
                GenRequest(PROMPT, scheduler.max_model_len)]:
        with pytest.raises(ValueError):
            scheduler.check(bad)


def test_sample_rows_depends_on_each_row_alone_and_keeps_to_the_nucleus():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=g) * 3
    temperature, top_p = torch.tensor([0.6, 1.0, 0.0, 2.0, 0.6, 1.0]), torch.tensor([0.95, 1.0, 0.9, 0.99, 0.5, 0.3])
    u = torch.rand(6, generator=g)
    both = sample_rows(logits, temperature, top_p, u)
    alone = torch.cat([sample_rows(logits[i:i + 1], temperature[i:i + 1], top_p[i:i + 1], u[i:i + 1])
                       for i in range(6)])
    assert torch.equal(both, alone)
    assert int(both[2]) == int(logits[2].argmax())
    draws = sample_rows(logits[4:5].expand(4000, -1), temperature[4:5].expand(4000), top_p[4:5].expand(4000),
                        torch.rand(4000, generator=g))
    probs = torch.softmax(logits[4] / 0.6, -1)
    order = probs.argsort(descending=True)
    nucleus = order[: int((probs[order].cumsum(0) - probs[order] < 0.5).sum())]
    assert set(draws.tolist()) <= set(nucleus.tolist())
    assert set(draws.tolist()) == set(nucleus.tolist()) or len(nucleus) > 20
