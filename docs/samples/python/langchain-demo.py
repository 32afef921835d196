import os

from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

base_url = os.environ["OMNIRELAY_BASE_URL"] + "/v1"
key = os.environ["OMNIRELAY_KEY"]

llm = ChatOpenAI(model="gpt-4o-mini", base_url=base_url, api_key=key, temperature=0)

prompt = ChatPromptTemplate.from_messages(
    [("system", "You translate to {language}."), ("user", "{text}")]
)
chain = prompt | llm
print(chain.invoke({"language": "French", "text": "Good morning"}).content)

# Streaming, on a Claude model: any chat model of the gateway works here
claude = ChatOpenAI(model="claude-3-5-haiku-20241022", base_url=base_url, api_key=key)
for chunk in claude.stream("Name three colours"):
    print(chunk.content, end="", flush=True)
print()

# Embeddings; check_embedding_ctx_length=False sends the text as is (no local tokenizer)
embeddings = OpenAIEmbeddings(
    model="text-embedding-3-small",
    base_url=base_url,
    api_key=key,
    check_embedding_ctx_length=False,
)
print(len(embeddings.embed_query("hello")), "dimensions")
