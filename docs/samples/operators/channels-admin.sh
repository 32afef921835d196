# The same through the admin API (what the console uses); the secret is write-only
curl -s "$OMNIRELAY_BASE_URL/admin/channels" \
  -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "openai-eu-backup",
    "vendor": "openai",
    "base_url": "https://eu.backup.example.com/v1",
    "api_key": "sk-backup",
    "models": ["gpt-4o"],
    "priority": -10,
    "enabled": false
  }'
echo
curl -s "$OMNIRELAY_BASE_URL/admin/channels/health" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY"
