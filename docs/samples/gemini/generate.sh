curl -s "$OMNIRELAY_BASE_URL/v1beta/models/gemini-2.0-flash:generateContent" \
  -H "x-goog-api-key: $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
    "contents": [{"role": "user", "parts": [{"text": "Explain how AI works"}]}],
    "generationConfig": {"temperature": 0.5, "maxOutputTokens": 256}
  }'
