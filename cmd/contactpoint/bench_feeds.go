package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/hl7"
	"contactpoint/adapters/postgres"
	"contactpoint/app/fileimport"
	"contactpoint/app/hub"
	"contactpoint/app/intake"
	"contactpoint/domain/record"
	"contactpoint/synth"
)

func benchMLLPCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mllp",
		Short: "Send synthetic ADT A08s over MLLP from concurrent senders into a fresh hub; report ACKed messages/s and peak memory",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchMLLP(cmd.Context(), v)
		},
	}
	cmd.Flags().Int("messages", 20000, "messages to send (each a distinct patient)")
	cmd.Flags().Int("senders", 8, "concurrent MLLP connections")
	cmd.Flags().Uint64("seed", 1, "random seed")
	benchHubFlags(cmd)
	return cmd
}

func benchCTFCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ctf",
		Short: "Import a generated CTF file into a fresh hub; report pupils/s and peak memory",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchCTF(cmd.Context(), v)
		},
	}
	cmd.Flags().Int("pupils", 50000, "pupils in the generated file")
	cmd.Flags().Uint64("seed", 1, "random seed")
	cmd.Flags().Bool("keep-file", false, "keep the generated CTF file and print its path")
	cmd.Flags().String("cpuprofile", "", "write a CPU profile of the import to this file")
	benchHubFlags(cmd)
	return cmd
}

func benchHubFlags(cmd *cobra.Command) {
	cmd.Flags().String("pg-server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for the fresh benchmark database")
	cmd.Flags().String("nats-url", "", "external NATS (default: embedded, in a temporary directory)")
}

// benchHub starts a hub on a fresh database and event log; stop undoes it all.
func benchHub(ctx context.Context, v *viper.Viper, feeds hub.FeedsConfig, deferLinker bool) (h *hub.Hub, stop func(), err error) {
	return benchHubWith(ctx, v, hub.Config{Feeds: feeds, DeferLinker: deferLinker})
}

// benchHubWith is benchHub with the rest of the configuration given.
func benchHubWith(ctx context.Context, v *viper.Viper, cfg hub.Config) (h *hub.Hub, stop func(), err error) {
	dir, err := os.MkdirTemp("", "contactpoint-bench-")
	if err != nil {
		return nil, nil, err
	}
	dbName := "contactpoint_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	dsn := strings.Replace(v.GetString("pg-server"), "/postgres?", "/"+dbName+"?", 1)
	cleanup := func() {
		_ = postgres.DropDatabase(context.Background(), dsn)
		os.RemoveAll(dir)
	}
	cfg.HTTPAddr, cfg.DataDir, cfg.DatabaseURL, cfg.NATSURL = "127.0.0.1:0", dir, dsn, v.GetString("nats-url")
	h, err = hub.Start(ctx, cfg, logger(v))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return h, func() { h.Close(); cleanup() }, nil
}

// healthRecords renders n distinct health records from a synthetic area.
func healthRecords(n int, seed uint64) []record.Record {
	children := n + n/4
	for {
		pop := synth.Generate(synth.Config{Children: children, Seed: seed})
		var out []record.Record
		for _, f := range pop.Feeds() {
			if f.Agency != "health" {
				continue
			}
			for r := range f.Records() {
				if len(out) == n {
					return out
				}
				out = append(out, r)
			}
		}
		children *= 2
	}
}

// adtA08 renders a record as an ADT^A08 from facility BENCH.
func adtA08(r *record.Record, control int) []byte {
	d := hl7.DefaultDelimiters
	esc := func(s string) string { return hl7.Escape(s, d) }
	c := r.Child
	var b strings.Builder
	ts := time.Now().UTC().Format("20060102150405")
	fmt.Fprintf(&b, "MSH|^~\\&|PAS|BENCH|CONTACTPOINT|HUB|%s||ADT^A08^ADT_A01|B%d|P|2.5.1\r", ts, control)
	fmt.Fprintf(&b, "EVN|A08|%s\r", ts)
	ids := esc(r.Source.RecordID) + "^^^BENCH^MR"
	if nhs := c.NHSNumber(); nhs != "" {
		ids += "~" + esc(nhs) + "^^^NHS^NH"
	}
	gender := map[string]string{"female": "F", "male": "M"}[c.Gender]
	if gender == "" {
		gender = "U"
	}
	addr := ""
	if a := c.Address; a != nil {
		line := func(i int) string {
			if i < len(a.Lines) {
				return esc(a.Lines[i])
			}
			return ""
		}
		addr = line(0) + "^" + line(1) + "^" + esc(a.Town) + "^^" + esc(a.Postcode)
	}
	fmt.Fprintf(&b, "PID|1||%s||%s^%s^%s||%s|%s|||%s\r", ids, esc(c.Name.Family), esc(c.Name.Given), esc(c.Name.Middle),
		strings.ReplaceAll(c.BirthDate, "-", ""), gender, addr)
	return []byte(b.String())
}

func benchMLLP(ctx context.Context, v *viper.Viper) error {
	n, senders := v.GetInt("messages"), max(1, v.GetInt("senders"))
	genStart := time.Now()
	recs := healthRecords(n, v.GetUint64("seed"))
	msgs := make([][]byte, len(recs))
	for i := range recs {
		recs[i].Source.RecordID = "B" + strconv.Itoa(i) // distinct patients, whatever the area's systems
		msgs[i] = adtA08(&recs[i], i)
	}
	recs = nil
	fmt.Printf("messages: %d ADT^A08 (generated in %s), %d senders\n", len(msgs), time.Since(genStart).Round(time.Millisecond), senders)

	h, stop, err := benchHub(ctx, v, hub.FeedsConfig{MLLPAddr: "127.0.0.1:0", HL7: hl7.Config{DefaultSystem: "bench-pas", MaxConns: senders + 8,
		Peers: []hl7.Peer{{System: "bench-pas", Addresses: []string{"127.0.0.1"}}}}}, false)
	if err != nil {
		return err
	}
	defer stop()
	resetPeakRSS()

	var next, aa, ae, ar atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", h.MLLPAddr())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					return
				}
				_ = conn.SetDeadline(time.Now().Add(time.Minute))
				if err := hl7.WriteFrame(conn, msgs[i]); err != nil {
					errs <- err
					return
				}
				frame, err := hl7.ReadFrame(br, 1<<20)
				if err != nil {
					errs <- err
					return
				}
				ack, err := hl7.Parse(frame)
				if err != nil {
					errs <- err
					return
				}
				switch ack.Segment("MSA").Get(1, 1, 1) {
				case hl7.AckAccept:
					aa.Add(1)
				case hl7.AckError:
					ae.Add(1)
				default:
					ar.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Since(start)
	close(errs)
	for err := range errs {
		return fmt.Errorf("sender: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return err
	}
	projected := time.Since(start)
	fmt.Printf("ACKs: %d AA, %d AE (quarantined), %d AR\n", aa.Load(), ae.Load(), ar.Load())
	fmt.Printf("MLLP intake (every message ACKed):  %8s  %8.0f messages/s\n", acked.Round(time.Millisecond), float64(len(msgs))/acked.Seconds())
	fmt.Printf("end to end (visible in directory):  %8s  %8.0f messages/s\n", projected.Round(time.Millisecond), float64(len(msgs))/projected.Seconds())
	fmt.Printf("peak memory during the run (VmHWM, whole process incl. embedded NATS): %s\n", peakRSS())
	return nil
}

// resetPeakRSS restarts the kernel's high-water mark so that the peak
// reported is the run's, not the data generation's.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func benchCTF(ctx context.Context, v *viper.Viper) error {
	n := v.GetInt("pupils")
	f, err := os.CreateTemp("", "contactpoint-bench-*.xml")
	if err != nil {
		return err
	}
	if v.GetBool("keep-file") {
		fmt.Printf("CTF file: %s\n", f.Name())
	} else {
		defer os.Remove(f.Name())
	}
	genStart := time.Now()
	size, err := writeCTF(f, n, v.GetUint64("seed"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("generate CTF: %w", err)
	}
	fmt.Printf("CTF file: %d pupils, %d MiB, with attainment, assessment, attendance and SEN sections (generated in %s)\n",
		n, size>>20, time.Since(genStart).Round(time.Millisecond))

	// The linker waits until the file is in: the import's rate and memory
	// are then the import's own, and linking is timed after it.
	h, stop, err := benchHub(ctx, v, hub.FeedsConfig{}, true)
	if err != nil {
		return err
	}
	defer stop()
	in, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer in.Close()
	resetPeakRSS()

	var heapPeak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > heapPeak.Load() {
				heapPeak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	stopProfile, err := startCPUProfile(v.GetString("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	rep, err := fileimport.Import(ctx, h.Intake, intake.Origin{Agency: "education", System: "bench-mis", Format: "ctf", Channel: "file"},
		fileimport.CTF(in, "bench-mis"), fileimport.Options{})
	imported := time.Since(start)
	stopProfile()
	close(done)
	<-sampled
	if err != nil {
		return err
	}
	importPeak := peakRSS()
	h.StartLinker()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return err
	}
	projected := time.Since(start)
	printReport(rep, false)
	fmt.Printf("CTF import (every pupil in FEEDS or QUARANTINE): %8s  %8.0f pupils/s\n", imported.Round(time.Millisecond), float64(rep.Records)/imported.Seconds())
	fmt.Printf("end to end (visible in directory):              %8s  %8.0f pupils/s\n", projected.Round(time.Millisecond), float64(rep.Records)/projected.Seconds())
	fmt.Printf("go heap peak during import (sampled every 20 ms, whole process incl. embedded NATS): %d MiB\n", heapPeak.Load()>>20)
	fmt.Printf("peak memory during import (VmHWM, whole process incl. embedded NATS): %s\n", importPeak)
	fmt.Printf("peak memory until linked and projected (VmHWM): %s\n", peakRSS())
	return nil
}

// writeCTF writes a CTF of n pupils drawn from a synthetic area's education
// feeds, each with the sections the hub must skip.
func writeCTF(w io.Writer, n int, seed uint64) (int64, error) {
	cw := &countWriter{w: bufio.NewWriterSize(w, 1<<20)}
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	fmt.Fprintf(cw, `<?xml version="1.0" encoding="UTF-8"?>
<CTfile><Header><DocumentName>Common Transfer File</DocumentName><CTFversion>23.0</CTFversion><DateTime>%s</DateTime>
<SourceSchool><LEA>383</LEA><Estab>2001</Estab><URN>107890</URN><SchoolName>Bench Academy</SchoolName></SourceSchool></Header>
<CTFpupilData>
`, time.Now().Format("2006-01-02T15:04:05"))
	written := 0
	children := n * 2
	for written < n {
		pop := synth.Generate(synth.Config{Children: children, Seed: seed})
		for _, f := range pop.Feeds() {
			if f.Agency != "education" {
				continue
			}
			for r := range f.Records() {
				if written == n {
					break
				}
				c := r.Child
				fmt.Fprintf(cw, "<Pupil><UPN>%s</UPN><Surname>%s</Surname><Forename>%s</Forename><DOB>%s</DOB><Gender>%s</Gender>",
					esc(c.UPN()), esc(c.Name.Family), esc(c.Name.Given), esc(c.BirthDate), map[string]string{"female": "F", "male": "M"}[c.Gender])
				if c.Name.Middle != "" {
					fmt.Fprintf(cw, "<BasicDetails><MiddleNames>%s</MiddleNames><Ethnicity>WBRI</Ethnicity></BasicDetails>", esc(c.Name.Middle))
				}
				fmt.Fprintf(cw, "<SENhistory><SEN><SENprovision>K</SENprovision></SEN></SENhistory>"+
					"<Assessments><StageAssessment><Stage>KS1</Stage><Subject>MAT</Subject><Result>EXS</Result></StageAssessment></Assessments>"+
					"<Attainment><KS2><Result>BENCHGRADE-%d</Result></KS2></Attainment>"+
					"<Attendance><YearData><SessionsPossible>380</SessionsPossible></YearData></Attendance>", written%120)
				if a := c.Address; a != nil {
					fmt.Fprint(cw, "<Address><AddressLines>")
					for i, l := range a.Lines {
						if i < 4 {
							fmt.Fprintf(cw, "<AddressLine%d>%s</AddressLine%d>", i+1, esc(l), i+1)
						}
					}
					fmt.Fprintf(cw, "</AddressLines><PostCode>%s</PostCode></Address>", esc(a.Postcode))
				}
				if len(c.Contacts) > 0 {
					fmt.Fprint(cw, "<Contacts>")
					for i, k := range c.Contacts {
						fmt.Fprintf(cw, "<Contact><Order>%d</Order><Surname>%s</Surname><Forename>%s</Forename><Relationship>PAR</Relationship><Responsibility>%t</Responsibility>",
							i+1, esc(k.Name.Family), esc(k.Name.Given), k.ParentalResponsibility)
						if k.Phone != "" {
							fmt.Fprintf(cw, "<Phones><Phone><TelephoneType>M</TelephoneType><PhoneNo>%s</PhoneNo></Phone></Phones>", esc(k.Phone))
						}
						fmt.Fprint(cw, "<AddressAsPupil>true</AddressAsPupil></Contact>")
					}
					fmt.Fprint(cw, "</Contacts>")
				}
				fmt.Fprint(cw, "</Pupil>\n")
				written++
			}
		}
		if written < n {
			// The area had too few pupils: a larger one continues with new
			// children (a different seed, so no UPN repeats).
			seed += 1000
		}
	}
	fmt.Fprint(cw, "</CTFpupilData></CTfile>\n")
	if err := cw.w.Flush(); err != nil {
		return cw.n, err
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, nil
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	k, err := c.w.Write(p)
	c.n += int64(k)
	if err != nil {
		c.err = errors.Join(c.err, err)
	}
	return k, err
}
