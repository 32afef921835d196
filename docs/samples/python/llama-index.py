import os

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

api_base = os.environ["OMNIRELAY_BASE_URL"] + "/v1"
key = os.environ["OMNIRELAY_KEY"]

llm = OpenAI(model="gpt-4o-mini", api_base=api_base, api_key=key)
print(llm.complete("Paul Graham is ").text)
print(llm.chat([ChatMessage(role="user", content="Say hello")]).message.content)

# A small retrieval index: the embeddings and the answer both go through the gateway
Settings.llm = llm
Settings.embed_model = OpenAIEmbedding(
    model="text-embedding-3-small", api_base=api_base, api_key=key
)
index = VectorStoreIndex.from_documents(
    [
        Document(text="omnirelay gives its users one base URL and one key for every vendor."),
        Document(text="Kling makes videos; Suno makes songs; Midjourney draws pictures."),
    ]
)
answer = index.as_query_engine(similarity_top_k=1).query("Which vendor makes songs?")
print(answer.response)
print("source:", answer.source_nodes[0].node.get_content()[:60])

# Models OpenAI does not list (Claude, Gemini…): OpenAILike, same settings
# (pip install llama-index-llms-openai-like)
from llama_index.llms.openai_like import OpenAILike  # noqa: E402

claude = OpenAILike(
    model="claude-3-5-haiku-20241022", api_base=api_base, api_key=key, is_chat_model=True
)
print(claude.complete("Say hi").text)
