import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ["OMNIRELAY_BASE_URL"] + "/v1",
    api_key=os.environ["OMNIRELAY_KEY"],
)

# Any audio file of yours: mp3, mp4, mpeg, mpga, m4a, wav or webm
with open("speech.mp3", "rb") as audio:
    transcript = client.audio.transcriptions.create(model="whisper-1", file=audio)
print(transcript.text)

with open("speech.mp3", "rb") as audio:
    english = client.audio.translations.create(model="whisper-1", file=audio)
print(english.text)
