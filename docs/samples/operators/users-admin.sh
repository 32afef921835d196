# A group with a 20% discount, a user in it with $25, and a key for that user
curl -s "$OMNIRELAY_BASE_URL/admin/groups" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "acme-vip", "ratio": 0.8, "limits": {"rpm": 600}}'
echo
USER_ID=$(curl -s "$OMNIRELAY_BASE_URL/admin/users" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "acme-team", "group": "acme-vip", "balance_usd": 25}' | jq -r .id)
curl -s "$OMNIRELAY_BASE_URL/admin/keys" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d "{\"name\": \"acme-ci\", \"user_id\": $USER_ID, \"quota_usd\": 5, \"models\": [\"gpt-4o-mini\"], \"limits\": {\"rpm\": 60}}"
echo
# Top up $10 (a ledger entry), then read the ledger
curl -s "$OMNIRELAY_BASE_URL/admin/users/$USER_ID/topups" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY" \
  -H "Content-Type: application/json" -d '{"amount_usd": 10, "note": "invoice 42"}'
echo
curl -s "$OMNIRELAY_BASE_URL/admin/users/$USER_ID/ledger" -H "Authorization: Bearer $OMNIRELAY_ADMIN_KEY"
