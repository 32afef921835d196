# Speech in any language to English text
curl -s "$OMNIRELAY_BASE_URL/v1/audio/translations" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -F model=whisper-1 \
  -F file=@speech.mp3 \
  -F response_format=json
