"""A Qwen2.5-VL-7B-Instruct-shaped model folder without weights, built offline, for vLLM's
``load_format="dummy"``: the real architecture, sizes, special-token ids, image processor and chat
template, so that the engine does the same work per page as for olmOCR-2 (a fine-tune of that model:
same shapes, same tokenizer) — only the answers are noise.

    python bench/model_folder.py OUT_DIR [--shrink]

Where the values come from (all public):
- ``config.json``: Qwen/Qwen2.5-VL-7B-Instruct's config.json as published on the Hugging Face hub
  (legacy flat layout, ``transformers_version`` 4.41.2), as copied in full — with the layer count cut
  for a test — in NVIDIA/TensorRT-LLM tests/unittest/_torch/modeling/test_modeling_qwen2_5vl.py
  (QWEN2_5_VL_7B_CONFIG); the module tree printed for the same model (embedding 152064 x 3584,
  28 decoder layers, 32 vision blocks of width 1280, merger 5120 -> 3584) agrees.
- special tokens: the ``added_tokens_decoder`` of Qwen2.5-VL's tokenizer_config.json (ids 151643
  <|endoftext|> to 151664 <|file_sep|>; eos <|im_end|>, pad <|endoftext|>).
- ``preprocessor_config.json``: Qwen2VLImageProcessor, patch 14, temporal patch 2, merge 2,
  min_pixels 3136, max_pixels 12845056, CLIP mean/std — as in the model's preprocessor_config.json.
- the chat template: Qwen2-VL/Qwen2.5-VL-Instruct's (default system prompt "You are a helpful
  assistant.").
- the pre-tokenizer: Qwen2's split pattern followed by byte-level BPE.

The tokenizer's ordinary vocabulary is a byte-level BPE trained here on a small built-in corpus (the
presets' prompts and some prose), padded with filler tokens up to the config's vocab_size, so that
every id the model can emit decodes; the special tokens sit at their real ids. Prompt text therefore
tokenizes to roughly, not exactly, as many tokens as with the real tokenizer; the image tokens
(nearly all of a page's prompt) are exact.

``shrink=True`` keeps everything but the sizes: 2 decoder layers of width 256 and a 2-block vision
tower, for a smoke run on CPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB_SIZE = 152064  # the embedding's rows (config.vocab_size); the tokenizer is padded to it
SPECIAL_TOKENS = {  # id -> (content, special) as in Qwen2.5-VL's tokenizer_config.json
    151643: ("<|endoftext|>", True),
    151644: ("<|im_start|>", True),
    151645: ("<|im_end|>", True),
    151646: ("<|object_ref_start|>", True),
    151647: ("<|object_ref_end|>", True),
    151648: ("<|box_start|>", True),
    151649: ("<|box_end|>", True),
    151650: ("<|quad_start|>", True),
    151651: ("<|quad_end|>", True),
    151652: ("<|vision_start|>", True),
    151653: ("<|vision_end|>", True),
    151654: ("<|vision_pad|>", True),
    151655: ("<|image_pad|>", True),
    151656: ("<|video_pad|>", True),
    151657: ("<tool_call>", False),
    151658: ("</tool_call>", False),
    151659: ("<|fim_prefix|>", False),
    151660: ("<|fim_middle|>", False),
    151661: ("<|fim_suffix|>", False),
    151662: ("<|fim_pad|>", False),
    151663: ("<|repo_name|>", False),
    151664: ("<|file_sep|>", False),
}
FIRST_SPECIAL = min(SPECIAL_TOKENS)
IDS = {content: i for i, (content, _) in SPECIAL_TOKENS.items()}

CONFIG = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_token_id": 151654,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 128000,
    "max_window_layers": 28,
    "model_type": "qwen2_5_vl",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.41.2",
    "use_cache": True,
    "use_sliding_window": False,
    "vision_config": {
        "depth": 32,
        "hidden_act": "silu",
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "in_chans": 3,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "temporal_patch_size": 2,
    },
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vocab_size": VOCAB_SIZE,
}

# Small sizes for a CPU smoke run; head_dim stays 128 (= 2 x sum(mrope_section)), the vision head 80.
SHRINK = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "max_window_layers": 2,
          "num_attention_heads": 2, "num_key_value_heads": 2}
SHRINK_VISION = {"depth": 2, "hidden_size": 160, "intermediate_size": 320, "num_heads": 2,
                 "out_hidden_size": 256, "fullatt_block_indexes": [1]}

PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}

GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643, "eos_token_id": [151645, 151643]}

CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer split (contractions, letters, single digits, punctuation, newlines, spaces).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

PROSE = (
    "The quick brown fox jumps over the lazy dog. A page of a document has a title, headings, "
    "paragraphs, tables, figures and equations; the reader returns its text in natural reading order. "
    "primary_language: en\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\n"
    "is_diagram: False\n---\n# Introduction\n\nThis report describes the results of the study. "
    "Table 1 lists the values measured in each year, and Figure 2 shows how they changed over time. "
    "Line 1: the quick brown fox jumps over the lazy dog."
)


def _corpus() -> list[str]:
    from raypipe.engines import prompts

    chat = "system\nYou are a helpful assistant.\nuser\nassistant\n"
    texts = [prompts.OLMOCR_V4_YAML, prompts.ROLMOCR_PLAIN, prompts.GENERIC_MARKDOWN_V1, PROSE, chat]
    return texts * 4


def build_tokenizer():
    """A byte-level BPE tokenizer of VOCAB_SIZE ids whose special tokens have Qwen2.5-VL's ids."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4096, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)

    spec = json.loads(tok.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    taken = set(vocab)
    next_id, n = len(vocab), 0
    fillers = {}
    while next_id < VOCAB_SIZE:  # every id outside the special range decodes to some bytes
        if next_id in SPECIAL_TOKENS:
            next_id += 1
            continue
        name = "Ġ" + _letters(n)
        n += 1
        if name not in taken:
            fillers[name] = next_id
            next_id += 1
    vocab.update(fillers)
    vocab.update({content: i for i, (content, _) in SPECIAL_TOKENS.items()})  # added tokens keep these ids
    spec["added_tokens"] = [
        {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": special}
        for i, (content, special) in sorted(SPECIAL_TOKENS.items())
    ]
    tok = Tokenizer.from_str(json.dumps(spec))
    specials = [c for _, (c, special) in sorted(SPECIAL_TOKENS.items()) if special]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=[c for c in specials if c != "<|endoftext|>"],
        model_max_length=131072, clean_up_tokenization_spaces=False, split_special_tokens=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _letters(n: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', ...: filler token names."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def config(shrink: bool = False) -> dict:
    cfg = json.loads(json.dumps(CONFIG))
    if shrink:
        cfg.update(SHRINK)
        cfg["vision_config"].update(SHRINK_VISION)
    return cfg


def check(folder: str) -> None:
    """Raise when the folder's tokenizer does not encode the chat template's special tokens to their ids."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "user", "content": [{"type": "text", "text": "Read this."}, {"type": "image"}]}]
    ids = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    for name in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"):
        if IDS[name] not in ids:
            raise AssertionError(f"{name} does not encode to {IDS[name]} in {folder}: {ids}")
    if len(tok) != VOCAB_SIZE or tok.eos_token_id != IDS["<|im_end|>"]:
        raise AssertionError(f"tokenizer of {len(tok)} ids, eos {tok.eos_token_id}")


def build(out_dir: str, shrink: bool = False) -> str:
    """Write the model folder (no weights) to ``out_dir``; returns its absolute path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer().save_pretrained(str(out))
    (out / "config.json").write_text(json.dumps(config(shrink), indent=2))
    (out / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
    (out / "generation_config.json").write_text(json.dumps(GENERATION, indent=2))
    (out / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2))
    check(str(out))
    return str(out.resolve())


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--shrink"):
        sys.exit(__doc__)
    print(build(sys.argv[1], shrink=len(sys.argv) == 3))
