import os

import anthropic
from google import genai
from google.genai import types
from openai import OpenAI

base_url, key = os.environ["OMNIRELAY_BASE_URL"], os.environ["OMNIRELAY_KEY"]
question = [{"role": "user", "content": "Say hi in five words"}]

# openai: the base URL ends in /v1
openai_client = OpenAI(base_url=base_url + "/v1", api_key=key)
print(
    "openai → claude:",
    openai_client.chat.completions.create(model="claude-sonnet-4-6", messages=question)
    .choices[0]
    .message.content,
)

# anthropic: the root; api_key is sent as x-api-key (auth_token= sends a Bearer token)
claude_client = anthropic.Anthropic(base_url=base_url, api_key=key)
print(
    "anthropic → gemini:",
    claude_client.messages.create(model="gemini-2.5-flash", max_tokens=1024, messages=question)
    .content[0]
    .text,
)

# google-genai: the root, in http_options
gemini_client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url))
print(
    "google-genai → gpt:",
    gemini_client.models.generate_content(
        model="gpt-4o-mini", contents="Say hi in five words"
    ).text,
)
