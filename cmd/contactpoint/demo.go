package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/auth"
	"contactpoint/app/hub"
	"contactpoint/synth"
)

func demoCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a hub with the embedded event log, seed a pilot population, and print a sample query",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logger(v)
			cfg := hubConfig(v)
			h, err := hub.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer h.Close()
			base := "http://" + h.Addr()
			pop := synth.Generate(synth.Config{Children: v.GetInt("children"), Seed: v.GetUint64("seed")})
			if err := writeTruth(pop, v.GetString("truth")); err != nil {
				return err
			}
			n, _, err := h.Store.Count(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				if err := seed(ctx, pop, base, benchKeys(ctx, h), os.Stdout); err != nil {
					return err
				}
				fmt.Println("waiting for the directory to catch up...")
				wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				err := h.WaitProjected(wctx)
				cancel()
				if err != nil {
					return err
				}
			} else {
				fmt.Printf("the directory already holds %d children; not seeding again\n", n)
			}
			n, s, _ := h.Store.Count(ctx)
			fmt.Printf("\nContactPoint hub is running at %s (%d children from %d source records)\n", base, n, s)
			user := fmt.Sprintf("demo-%d", time.Now().Unix())
			_, password, secret, err := auth.BootstrapDemo(ctx, h.Registry, user)
			if err != nil {
				return fmt.Errorf("demo practitioner: %w", err)
			}
			code, err := auth.TOTPCode(secret, time.Now())
			if err != nil {
				return err
			}
			fmt.Printf("\ndemo practitioner: username %s, password %s, TOTP secret %s (add it to an authenticator app)\n", user, password, secret)
			if f := pop.Feeds(); len(f) > 0 && f[0].Len() > 0 {
				r := f[0].Record(0)
				q := url.Values{"family": {r.Child.Name.Family}, "birth_date": {r.Child.BirthDate}}
				fmt.Printf("sign in (the one-time code below is valid for about 30 seconds):\n")
				fmt.Printf("  TOKEN=$(curl -s %s/v1/auth/login -H 'Content-Type: application/json' -d '{\"username\":\"%s\",\"password\":\"%s\",\"code\":\"%s\"}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n", base, user, password, code)
				fmt.Printf("then search:\n  curl -s -H \"Authorization: Bearer $TOKEN\" '%s/v1/children?%s'\n", base, q.Encode())
			}
			fmt.Println("press Ctrl-C to stop")
			<-ctx.Done()
			return nil
		},
	}
	// The demo keeps its own event log and database so it never mixes with a real hub's.
	hubFlagsWith(cmd.Flags(), "./data-demo", "postgres://postgres@127.0.0.1:5432/contactpoint_demo?sslmode=disable")
	seedFlags(cmd)
	return cmd
}
