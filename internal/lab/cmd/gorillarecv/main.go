// Command gorillarecv is the receiver most Go code would have instead of sv recv, written
// as gorilla/websocket's examples teach: an Upgrader, ReadMessage in a loop, every binary
// message written to stdout. Like sv recv it takes one publisher and exits when it is
// gone. The ingest benchmarks measure sv recv against it.
//
//	gorillarecv HOST:PORT
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gorillarecv:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gorillarecv HOST:PORT")
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	upgrader := websocket.Upgrader{}
	done := make(chan error, 1)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return // Upgrade has answered with an HTTP error
			}
			defer conn.Close()
			err = func() error {
				for {
					kind, msg, err := conn.ReadMessage()
					if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
						return nil
					}
					if err != nil {
						return err
					}
					if kind != websocket.BinaryMessage {
						continue
					}
					if _, err := stdout.Write(msg); err != nil {
						return err
					}
				}
			}()
			select {
			case done <- err:
			default:
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()
	return <-done
}
