package nanogpt

import (
	"context"
	"encoding/json"
)

// Balance is the account balance. NanoGPT sends the amounts as strings.
type Balance struct {
	USD                string `json:"usd"`
	Nano               string `json:"nano"`
	NanoDepositAddress string `json:"nanoDepositAddress,omitempty"`
}

// CheckBalance returns the balance of the client's key (POST /api/check-balance).
func (c *Client) CheckBalance(ctx context.Context) (_ *Balance, err error) {
	defer c.redact(&err)
	var body struct {
		USD     json.RawMessage `json:"usd_balance"`
		Nano    json.RawMessage `json:"nano_balance"`
		Address string          `json:"nanoDepositAddress"`
	}
	if err := c.postJSON(ctx, "/api/check-balance", struct{}{}, &body); err != nil {
		return nil, err
	}
	return &Balance{USD: rawCode(body.USD), Nano: rawCode(body.Nano), NanoDepositAddress: body.Address}, nil
}
