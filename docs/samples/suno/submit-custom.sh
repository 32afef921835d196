# Custom mode: your lyrics, style tags and title
curl -s "$OMNIRELAY_BASE_URL/suno/submit/music" \
  -H "Authorization: Bearer $OMNIRELAY_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "prompt": "[Verse]\nSalt on the window, light on the sea\n[Chorus]\nKeeper, keeper, wait for me",
    "tags": "folk, acoustic",
    "title": "Keeper",
    "mv": "chirp-v4"
  }'
