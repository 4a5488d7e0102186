"""Weights on this machine and on the Hub: where people keep GGUF files, which catalog artifact
each one is, and fetching a pinned artifact into the Hugging Face cache (docs/weights.md).

One module per place weights are kept (`hf_cache`, `llama_cpp`, `ollama`, `lmstudio`,
`models_dir`), `identify` to say which catalog entry a file is, `discover` to put them
together, `fetch` and `fetch_top` to download, `hashing` for the one sha256 memo.
"""
