"""`r1lab base --init-from M --extend-vocab N`: a new script's tokens added to a trained tokenizer
without changing how ASCII text is tokenized, and embedding rows that start from the bytes' rows."""

import itertools

import pytest
import torch

from r1lab.errors import UserError
from r1lab.models.base_config import BaseConfig
from r1lab.models.corpus import CorpusMix, documents
from r1lab.models.io import load, load_tokenizer
from r1lab.models.pretrain import grow_embeddings, pretrain
from r1lab.models.tokenizer import extend_tokenizer

BILINGUAL = CorpusMix(second_language=0.3)


@pytest.fixture(scope="module")
def extended():
    _, tok = load("tiny")
    new, pieces = extend_tokenizer(tok, itertools.islice(documents(5, BILINGUAL), 2000), 48)
    return tok, new, pieces


def test_ascii_text_keeps_its_ids_and_every_document_round_trips(extended):
    tok, new, pieces = extended
    assert len(pieces) == 48 and len(new) == len(tok) + 48
    assert sorted(pieces) == list(range(len(tok), len(tok) + 48))  # the new ids follow the old ones
    docs = list(itertools.islice(documents(9, BILINGUAL), 200))
    assert sum(d.isascii() for d in docs) > 50 and sum(not d.isascii() for d in docs) > 20
    for d in docs:
        ids = new(d).input_ids
        assert new.decode(ids) == d
        if d.isascii():
            assert ids == tok(d).input_ids
    tagged = "User: 12 + 30? Assistant: <think> 2+0=2 </think> <answer> 42 </answer>"
    assert new(tagged).input_ids == tok(tagged).input_ids


def test_a_word_of_the_new_script_takes_a_token_or_two_instead_of_two_bytes_a_letter(extended):
    tok, new, pieces = extended
    for word in (" итог", " имеем", " ещё"):
        assert len(tok(word).input_ids) == 1 + 2 * (len(word) - 1)  # a space, then two bytes a letter
        assert len(new(word).input_ids) <= 2
    for i, old_ids in pieces.items():  # each new token is the bytes it replaces
        assert tok.decode(old_ids) == new.decode([i]) or "\ufffd" in new.decode([i])
        assert new.convert_ids_to_tokens(i) == "".join(tok.convert_ids_to_tokens(old_ids))


def test_grown_embeddings_keep_the_old_rows_and_start_new_ones_at_their_bytes_mean(extended):
    tok, new, pieces = extended
    model, _ = load("tiny")
    ids = tok("What is 12 + 30? <think> 2+0=2", return_tensors="pt").input_ids
    with torch.no_grad():
        before = model(ids).logits  # (1, T, V)
    old = model.get_input_embeddings().weight.detach().clone()  # (V, H)
    grow_embeddings(model, pieces)
    emb = model.get_input_embeddings().weight  # (V + 48, H)
    assert emb.shape[0] == len(new) and model.config.vocab_size == len(new)
    assert torch.equal(emb[:len(tok)], old)
    i = next(iter(pieces))
    assert torch.allclose(emb[i], old[pieces[i]].mean(0))
    assert model.get_output_embeddings().weight is emb or torch.equal(model.get_output_embeddings().weight, emb)
    with torch.no_grad():
        after = model(ids).logits  # (1, T, V + 48)
    assert torch.allclose(after[..., :len(tok)], before, atol=1e-5)  # the old vocabulary's logits are unchanged


def test_pretraining_with_an_extended_vocabulary_saves_a_model_and_tokenizer_that_agree(tmp_path):
    out = pretrain(BaseConfig(output_dir=str(tmp_path / "m"), init_from="tiny", extend_vocab=16, steps=2,
                              stop_at=0, batch_size=2, seq_len=64, warmup_steps=1, lr=1e-4,
                              second_language_fraction=0.3, seed=2, threads=1), log=lambda s: None)
    model, tok = load(str(out))
    assert len(tok) == model.config.vocab_size == 512 + 16
    assert len(tok(" итог").input_ids) < len(load_tokenizer("tiny")(" итог").input_ids) == 9


def test_extend_vocab_needs_a_model_to_extend():
    with pytest.raises(UserError, match="extend_vocab extends the tokenizer of init_from"):
        BaseConfig(extend_vocab=8)
