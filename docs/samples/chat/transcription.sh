# Speech to text: upload an audio file (speech.mp3 in this directory) as a form
curl -s "$OMNIRELAY_BASE_URL/v1/audio/transcriptions" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -F model=whisper-1 \
  -F file=@speech.mp3
