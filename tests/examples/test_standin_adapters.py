"""The inference stand-in serves a pod's adapters beside its model, as vLLM lists LoRA modules."""

from aiohttp.test_utils import TestClient, TestServer

from localcloud.inference_standin import build_app
from localcloud.standins import adapter_names


async def test_adapters_are_listed_with_their_parent_and_answer_by_name() -> None:
    app = build_app("phi-3-mini-128k-instruct", "default/ws-0", ("phi-3-adapter",))
    async with TestClient(TestServer(app)) as client:
        models = (await (await client.get("/v1/models")).json())["data"]
        assert [(m["id"], m["parent"]) for m in models] == [
            ("phi-3-mini-128k-instruct", None),
            ("phi-3-adapter", "phi-3-mini-128k-instruct"),
        ]
        hello = [{"role": "user", "content": "hi"}]
        reply = await client.post("/v1/chat/completions", json={"model": "phi-3-adapter", "messages": hello})
        assert reply.status == 200
        unknown = await client.post("/v1/chat/completions", json={"model": "other", "messages": hello})
        assert unknown.status == 404


def test_the_pods_adapter_annotation_names_them() -> None:
    pod = {"metadata": {"annotations": {"kaito.sh/adapters": "a,b"}}}
    assert adapter_names(pod) == ["a", "b"]
    assert adapter_names({"metadata": {}}) == []
