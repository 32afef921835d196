# On the gateway's machine (the same settings as `serve`: database URL, data dir)
omnirelay users create --name acme-cli --group default --balance 20
omnirelay users topup --user acme-cli --amount 5 --note "welcome credit"
omnirelay keys create --name acme-cli-key --user acme-cli --models gpt-4o-mini,text-embedding-3-small --expires-days 90
omnirelay users list
