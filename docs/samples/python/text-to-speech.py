import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

with client.audio.speech.with_streaming_response.create(
    model="tts-1",
    voice="alloy",
    input="Today is a wonderful day to build something people love!",
) as response:
    response.stream_to_file("speech.mp3")
print("saved speech.mp3,", os.path.getsize("speech.mp3"), "bytes")
