package tools

import (
	"cmp"
	"context"

	"github.com/mark3labs/mcp-go/mcp"
)

// CheckBalanceInput takes no parameters.
type CheckBalanceInput struct{}

// CheckBalanceOutput is the account balance.
type CheckBalanceOutput struct {
	USD                string `json:"usd" jsonschema_description:"Balance in US dollars, as NanoGPT reports it."`
	Nano               string `json:"nano,omitempty" jsonschema_description:"Balance in Nano (XNO)."`
	NanoDepositAddress string `json:"nanoDepositAddress,omitempty" jsonschema_description:"Address for topping up with Nano."`
}

// CheckBalance is the checkBalance tool.
func (toolset) CheckBalance() definition {
	return tool[CheckBalanceInput, CheckBalanceOutput]{
		Spec: Spec{
			Name:        "checkBalance",
			Title:       "Check the NanoGPT balance",
			Description: "The NanoGPT account balance of the key in use (USD and Nano). Free.",
			Summary:     "the account balance",
			ReadOnly:    true, Idempotent: true,
		},
		run: func(ctx context.Context, c *call, _ *CheckBalanceInput) (*CheckBalanceOutput, []mcp.Content, error) {
			b, err := c.client.CheckBalance(ctx)
			if err != nil {
				return nil, nil, err
			}
			text := "NanoGPT balance: " + cmp.Or(b.USD, "?") + " USD"
			if b.Nano != "" {
				text += ", " + b.Nano + " XNO"
			}
			out := CheckBalanceOutput(*b)
			return &out, []mcp.Content{mcp.NewTextContent(text)}, nil
		},
	}
}
