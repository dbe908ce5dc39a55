"""`r1lab sft`: the loss reads the replies only, packing changes nothing but speed, a killed run
resumes exactly, and bad data is one line naming the file and line."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from r1lab.errors import UserError
from r1lab.models.io import load, load_tokenizer
from r1lab.pipeline.nonreasoning import row as nonreasoning_row
from r1lab.tasks.chatdata import ChatExample, read_chat
from r1lab.tasks.templates import r1_zero_prompt
from r1lab.train.sft import SFT, SFTConfig, sft_loss_sum
from r1lab.train.sft_data import Encoded, EncodeStats, encode
from tests.helpers import ENV, assert_user_error, r1lab

REPLY_1 = "<think> 2+3=5 </think> <answer> 5 </answer>"
CONVERSATION = ChatExample("mem:1", messages=(
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": REPLY_1}, {"role": "user", "content": "And 1 + 1?"},
    {"role": "assistant", "content": "It is 2."}))


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False).input_ids


def test_the_loss_mask_covers_the_replies_only():
    tok, eos = load_tokenizer("tiny"), "<|endoftext|>"
    # the tiny model's template: "system\n", "User: q ", "Assistant: reply<eos>\n" (r1lab/models/tokenizer.py)
    pieces = [("Be brief.\nUser: What is 2 + 3? Assistant:", False), (f" {REPLY_1}{eos}\n", True),
              ("User: And 1 + 1? Assistant:", False), (f" It is 2.{eos}\n", True)]
    want_ids = [i for text, _ in pieces for i in _ids(tok, text)]
    want_mask = [m for text, m in pieces for _ in _ids(tok, text)]
    got = encode(CONVERSATION, tok, "chat", 1024)
    assert got.ids == want_ids and got.trained == want_mask
    assert tok.decode(got.ids) == tok.apply_chat_template(list(CONVERSATION.messages), tokenize=False)

    one_turn = ChatExample("mem:2", messages=CONVERSATION.messages[1:3])
    got = encode(one_turn, tok, "r1_zero", 1024)  # the R1-Zero template, as train and eval prompt
    prompt, reply = _ids(tok, r1_zero_prompt("What is 2 + 3?")), _ids(tok, f" {REPLY_1}{eos}")
    assert got.ids == prompt + reply and got.trained == [False] * len(prompt) + [True] * len(reply)

    raw = encode(ChatExample("mem:3", prompt="Copy: hi", completion=" hi"), tok, "chat", 1024)
    assert raw.ids == _ids(tok, "Copy: hi") + _ids(tok, f" hi{eos}") and raw.n_trained == len(_ids(tok, f" hi{eos}"))

    stats = EncodeStats()
    cut = encode(one_turn, tok, "r1_zero", len(prompt) + 3, stats)  # keeps the start: 3 reply tokens
    assert cut.ids == (prompt + reply)[:len(prompt) + 3] and cut.n_trained == 3 and stats.truncated == 1
    assert encode(one_turn, tok, "r1_zero", len(prompt), stats) is None and stats.dropped == 1
    with pytest.raises(UserError, match="mem:1: template r1_zero takes one user turn"):
        encode(CONVERSATION, tok, "r1_zero", 1024)


def _examples(seed: int, n: int = 5, vocab: int = 64) -> list[Encoded]:
    """Random examples shaped like conversations: context, reply, context, reply (holes in the mask)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        parts = [(rng.randint(2, 9), False), (rng.randint(1, 8), True), (rng.randint(1, 5), False),
                 (rng.randint(0, 6), True)]
        trained = [m for length, m in parts for _ in range(length)]
        out.append(Encoded([rng.randrange(vocab) for _ in trained], trained, f"mem:{k}"))
    return out


def _reference_loss(model, examples: list[Encoded]) -> torch.Tensor:
    """Each example alone through the model; -log p of its trained tokens, summed."""
    total = torch.zeros(())
    for e in examples:
        logp = torch.log_softmax(model(torch.tensor([e.ids])).logits[0, :-1].float(), dim=-1)  # (L-1, V)
        for t in range(1, len(e.ids)):
            if e.trained[t]:
                total = total - logp[t - 1, e.ids[t]]
    return total


def test_a_packed_batch_gives_the_loss_of_the_examples_alone(lean_model):
    examples = _examples(0)
    n = sum(e.n_trained for e in examples)
    ref = _reference_loss(lean_model, examples) / n
    packed = sft_loss_sum(lean_model, examples, packed=True) / n
    padded = sft_loss_sum(lean_model, examples, packed=False) / n
    assert abs(packed.item() - ref.item()) < 1e-5 and abs(padded.item() - ref.item()) < 1e-5
    grads = [torch.autograd.grad(loss, list(lean_model.parameters()))
             for loss in (sft_loss_sum(lean_model, examples, True), sft_loss_sum(lean_model, examples, False))]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads, strict=True))


def test_the_shipped_model_packs_real_chat_rows(tmp_path):
    model, tok = load("tiny")
    rows = [nonreasoning_row(random.Random(k)) for k in range(6)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = [encode(ex, tok, "r1_zero", 1024) for ex in read_chat(path)]
    n = sum(e.n_trained for e in examples)
    packed, ref = sft_loss_sum(model, examples, True) / n, _reference_loss(model, examples) / n
    assert abs(packed.item() - ref.item()) < 1e-5


def test_split_forwards_take_the_same_step(make_tiny):
    """A step cut into several forwards (max_tokens_per_forward) accumulates the one-forward gradient:
    every forward divides by the whole step's token count. GPT-2 (no lean forward) runs padded."""
    for name in ("qwen2", "gpt2"):
        after = []
        for max_tokens in (10_000, 12):
            model = make_tiny(name, **({} if name == "qwen2" else dict(resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)))
            cfg = SFTConfig(data="unused.jsonl", max_tokens_per_forward=max_tokens, lr=1e-2, warmup_steps=1)
            trainer = SFT(cfg, model, None, total_steps=4)
            assert trainer.packed == (name == "qwen2")
            metrics = trainer.step(_examples(1))
            after.append([metrics["loss"]] + [p.grad.clone() for p in model.parameters()])
        assert after[0][0] == pytest.approx(after[1][0], abs=1e-6)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(after[0][1:], after[1][1:], strict=True))


# ---- the command: exact resume, bad input ----------------------------------------------------------

STEPS = 10
WALL_CLOCK = {"seconds", "tokens_per_second"}


def _data(tmp_path, n: int = 40):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(nonreasoning_row(random.Random(k))) + "\n" for k in range(n)))
    return path


def _cmd(*args):
    return [sys.executable, "-m", "r1lab.cli", "sft", *map(str, args)]


def _metrics(run):
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sigkill_then_resume_ends_where_the_uninterrupted_run_ends(tmp_path):
    args = ["--data", _data(tmp_path), "--template", "r1_zero", "--max-steps", STEPS, "--batch-size", 4,
            "--save-every", 2, "--keep-checkpoints", 2, "--threads", 1, "--lr", "2e-3", "--warmup-steps", 2]
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(_cmd(*args, "--output-dir", ref), env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for i, rows in enumerate((1, 5)):  # killed twice: before the first checkpoint, then mid-run
        proc = subprocess.Popen(_cmd(*(args + ["--output-dir", run] if i == 0 else ["--resume", run])), env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        metrics = run / "metrics.jsonl"
        while proc.poll() is None and (len(metrics.read_text().splitlines()) if metrics.exists() else 0) < rows:
            time.sleep(0.01)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert alive, err.decode()[-2000:]
    assert not (run / "summary.json").exists()
    final = subprocess.run(_cmd("--resume", run), env=ENV, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    got, want = _metrics(run), _metrics(ref)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1)) and got == want
    w_run, w_ref = (load_file(str(p / "checkpoints" / f"step-{STEPS:06d}" / "model.safetensors")) for p in (run, ref))
    assert w_run.keys() == w_ref.keys() and all(torch.equal(w_run[k], w_ref[k]) for k in w_ref)
    assert want[-1]["lr"] == pytest.approx(2e-4)  # cosine decay to one tenth at the last step


def test_malformed_chat_jsonl_is_one_line_naming_it(tmp_path):
    data = _data(tmp_path, 2)
    data.write_text(data.read_text() + '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"\n')
    res = r1lab("sft", "--data", data, "--output-dir", tmp_path / "out")
    assert_user_error(res, "data.jsonl:3: malformed JSON")
    assert not (tmp_path / "out").exists()  # before any compute: nothing written


def test_other_bad_data_in_process(tmp_path):
    path = tmp_path / "d.jsonl"
    for text, needle in [('{"messages": [{"role": "user", "content": "q"}]}\n', "d.jsonl:1: no assistant turn"),
                         ('{"messages": [{"role": "tool", "content": "x"}]}\n', "d.jsonl:1: turn 1 has unknown role"),
                         ('{"text": "no shape"}\n', "d.jsonl:1: expected a 'messages' list or 'prompt' and"),
                         ('{"prompt": "p", "completion": " "}\n', "d.jsonl:1: field 'completion' is empty"),
                         ('{"messages": "hi"}\n', "d.jsonl:1: 'messages' must be a non-empty list"),
                         ("", "d.jsonl: no rows")]:
        path.write_text(text)
        with pytest.raises(UserError, match=needle):
            read_chat(path)
    with pytest.raises(UserError, match="template must be chat | r1_zero"):
        SFTConfig(data="x.jsonl", template="llama")
