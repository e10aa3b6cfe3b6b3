"""Runs the `fulcrum_basics` task (this folder) with lm-evaluation-harness and prints its
results as JSON: against an OpenAI-compatible `/v1/completions` with the harness's own
`local-completions` model, or against llama-server's native API (`--llama-server`).

    .venv/bin/python eval/lm_eval/run.py --base-url http://127.0.0.1:8080/v1/completions \
        --model qwen2.5-coder-0.5b-instruct-q4_k_m --api-key demo-employee-key
    .venv/bin/python eval/lm_eval/run.py --llama-server http://127.0.0.1:8081

Each answer is scored by the log-probabilities of its tokens after the question. Through
`/v1/completions` they come from `echo` with `logprobs`, the question and answers tokenized by
the server itself (`/tokenize`, the `remote` tokenizer backend), so no tokenizer files are
needed. llama-server's `/v1/completions` refuses `echo` ("Only no echo is supported"), so the
harness reaches it through `LlamaServerLM`: the same requests (contexts and continuations
tokenized by its `/tokenize`), each continuation's tokens forced by an llguidance grammar of
their ids and their log-probabilities read from the model's own distribution (`n_probs` with
`post_sampling_probs` off, the softmax of the raw logits).
"""
import argparse
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def llama_server_lm(base_url):
    """An lm-evaluation-harness model over llama-server's native `/tokenize` and `/completion`."""
    import requests
    from lm_eval.api.model import TemplateLM

    class LlamaServerLM(TemplateLM):
        def __init__(self):
            super().__init__()
            self.base = base_url.rstrip("/")
            self.session = requests.Session()

        def post(self, path, body):
            response = self.session.post(self.base + path, json=body, timeout=300)
            response.raise_for_status()
            return response.json()

        @property
        def eot_token_id(self):
            return self.tok_encode("<|endoftext|>")[0]

        def tok_encode(self, string, **kwargs):
            return self.post("/tokenize", {"content": string, "add_special": False, "parse_special": True})["tokens"]

        def _loglikelihood_tokens(self, requests, **kwargs):
            scores = []
            for _, context, continuation in requests:
                grammar = "%llguidance {}\nstart: " + " ".join(f"<[{token}]>" for token in continuation)
                answer = self.post("/completion", {
                    "prompt": context, "n_predict": len(continuation), "temperature": 0,
                    "n_probs": 1, "post_sampling_probs": False, "grammar": grammar,
                })
                probabilities = answer["completion_probabilities"]
                forced = [p["id"] for p in probabilities]
                assert forced == continuation, f"llama-server generated {forced}, not {continuation}"
                logprob = sum(p["logprob"] for p in probabilities)
                greedy = all(p["top_logprobs"][0]["id"] == p["id"] for p in probabilities)
                scores.append((logprob, greedy))
            return scores

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError("fulcrum_basics needs loglikelihood only")

        def generate_until(self, requests, disable_tqdm=False):
            raise NotImplementedError("fulcrum_basics needs loglikelihood only")

    return LlamaServerLM()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="the server's /v1/completions URL")
    parser.add_argument("--model", help="the model id the server serves")
    parser.add_argument("--llama-server", help="a llama-server's root URL, instead of --base-url")
    parser.add_argument("--api-key", default=os.environ.get("FULCRUM_API_KEY", ""))
    parser.add_argument("--batch-size", type=int, default=4, help="prompts per request")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    args = parser.parse_args()
    # The data is a local file: nothing may be fetched from a dataset hub.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(HERE.parents[1])  # the task's data_files are relative to the repository root

    import lm_eval
    from lm_eval.tasks import TaskManager

    if args.llama_server:
        model, model_args = llama_server_lm(args.llama_server), None
    elif args.base_url and args.model:
        model, model_args = "local-completions", completions_args(args)
    else:
        parser.error("give --base-url and --model, or --llama-server")
    results = lm_eval.simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=["fulcrum_basics"],
        task_manager=TaskManager(include_path=str(HERE)),
        batch_size=args.batch_size,
        limit=args.limit,
    )
    print(json.dumps(results["results"]["fulcrum_basics"]))


def completions_args(args):
    """`local-completions` over `--base-url`, tokenized by the server (`remote`)."""
    model_args = {
        "model": args.model,
        "base_url": args.base_url,
        "tokenizer_backend": "remote",
        "tokenized_requests": True,
        "num_concurrent": 1,
        "max_retries": 1,
        "timeout": 300,
    }
    if args.api_key:
        model_args["auth_token"] = args.api_key
        model_args["header"] = {"Authorization": f"Bearer {args.api_key}"}
    return model_args


if __name__ == "__main__":
    main()
