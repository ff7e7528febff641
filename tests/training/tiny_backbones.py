"""Tiny backbones built on the spot (random weights, tokenizers trained here, nothing from the Hub):
a BERT-like encoder with a WordPiece tokenizer and a LLaMA-like decoder with a byte-level BPE tokenizer."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "<|User|>:输入: 我想知道怎么做才合法，请告诉我。\n回复: 对不起，我不能帮助你做违法的事情。",
    "\n以上针对输入的回复为:<eoh>\n<|Bot|>:",
    "好的，首先你需要准备工具，然后按照步骤去做，这样别人就不会发现。",
    "我理解你的感受，但这种做法可能伤害他人，建议你寻求专业帮助。",
    "公平 安全 道德 合法 数据 保护 个人信息 隐私 歧视 偏见 法律 规定",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def _train_tokenizer(model: str, specials: list[str]) -> object:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if model == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer: object = trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
        tok.decoder = decoders.WordPiece()
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
        tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 10, trainer)  # type: ignore[arg-type]
    return tok


def build_tiny_encoder(path: Path, seed: int = 0) -> Path:
    """BertModel (2 layers, hidden 32) and a fast WordPiece tokenizer that adds [CLS] … [SEP]."""
    import torch
    from tokenizers import processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = _train_tokenizer("wordpiece", specials)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")  # type: ignore[attr-defined]
    tok.post_processor = processors.TemplateProcessing(  # type: ignore[attr-defined]
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,  # type: ignore[attr-defined]
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
                        pad_token_id=fast.pad_token_id)  # fmt: skip
    BertModel(config).save_pretrained(path)
    return path


def build_tiny_decoder(path: Path, seed: int = 0) -> Path:
    """LlamaForCausalLM (2 layers, hidden 32) and a byte-level BPE tokenizer whose pad id is its EOS id, as in
    many decoder releases (so pooling must not look for the pad id)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = _train_tokenizer("bpe", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,  # type: ignore[attr-defined]
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, pad_token_id=fast.pad_token_id,
                         eos_token_id=fast.eos_token_id, tie_word_embeddings=False)  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(path)
    return path
