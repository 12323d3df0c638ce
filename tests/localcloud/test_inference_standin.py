"""The inference stand-in answers as vLLM's OpenAI server would, and counts what it served."""

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from localcloud.inference_standin import build_app


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(build_app("falcon-7b", "default/workspace-falcon-7b-0"))) as test_client:
        yield test_client


async def test_health_models_chat_and_metrics(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/health")).status == 200
    models = await (await client.get("/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["falcon-7b"]

    hello = [{"role": "user", "content": "hello there"}]
    reply = await client.post("/v1/chat/completions", json={"model": "falcon-7b", "messages": hello})
    body = await reply.json()
    assert reply.status == 200 and body["object"] == "chat.completion" and body["model"] == "falcon-7b"
    text = body["choices"][0]["message"]["content"]
    assert "stand-in" in text and "falcon-7b" in text and "hello there" in text
    again = await (await client.post("/v1/chat/completions", json={"messages": hello})).json()
    assert again["choices"][0]["message"]["content"] == text, "deterministic"

    metrics = await (await client.get("/metrics")).text()
    assert 'vllm:request_success_total{finished_reason="stop",model_name="falcon-7b"} 2' in metrics
    assert 'vllm:num_requests_running{model_name="falcon-7b"} 0' in metrics


async def test_bad_requests_get_openai_shaped_errors(client: TestClient) -> None:  # type: ignore[type-arg]
    wrong_model = await client.post("/v1/chat/completions", json={"model": "gpt-9", "messages": []})
    assert wrong_model.status == 404 and (await wrong_model.json())["error"]["type"] == "NotFoundError"
    no_messages = await client.post("/v1/chat/completions", json={"model": "falcon-7b"})
    assert no_messages.status == 400
    not_json = await client.post("/v1/chat/completions", data=b"{nope")
    assert not_json.status == 400
    metrics = await (await client.get("/metrics")).text()
    assert 'vllm:request_success_total{finished_reason="stop",model_name="falcon-7b"} 0' in metrics
