# Text to speech: the answer is the audio itself
curl -s "$OMNIRELAY_BASE_URL/v1/audio/speech" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "tts-1", "voice": "alloy", "input": "The quick brown fox jumped over the lazy dog."}' \
  --output speech.mp3
file speech.mp3 2>/dev/null || ls -l speech.mp3
