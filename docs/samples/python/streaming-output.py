import asyncio
import os

from openai import AsyncOpenAI, OpenAI

base_url = os.environ["OMNIRELAY_BASE_URL"] + "/v1"
key = os.environ["OMNIRELAY_KEY"]

# The plain client: iterate over the chunks as they arrive
client = OpenAI(base_url=base_url, api_key=key)
for chunk in client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "Tell me a short story"}],
    stream=True,
):
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()


# The async client, with the SDK's stream helper (events, then the whole message)
async def main() -> None:
    async with AsyncOpenAI(base_url=base_url, api_key=key) as aclient:
        async with aclient.chat.completions.stream(
            model="claude-3-5-haiku-20241022",
            messages=[{"role": "user", "content": "Now in one line"}],
        ) as stream:
            async for event in stream:
                if event.type == "content.delta":
                    print(event.delta, end="", flush=True)
            final = await stream.get_final_completion()
    print("\nfinish_reason:", final.choices[0].finish_reason)


asyncio.run(main())
