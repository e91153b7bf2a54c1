package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/resources"
)

// WhyFramework prints the explainer's answer for a framework (an ID or a
// name): its reasons first, then its roles, offer filters, outstanding
// offers and the agents with what keeps each from it.
func (o *Ops) WhyFramework(ctx context.Context, framework string) error {
	f, err := o.Client.ExplainFramework(ctx, framework)
	if err != nil {
		return o.explainErr(err, "framework", framework)
	}
	if o.JSON {
		return o.writeJSON(f)
	}
	state := "active"
	if !f.Active {
		state = "inactive"
	}
	fmt.Fprintf(o.Out, "Framework %s (%s), %s\n\n", f.Name, f.FrameworkID, state)
	o.reasons(f.Reasons, "Nothing holds it back: it can be offered resources at the next allocation.")

	if len(f.Roles) > 0 {
		fmt.Fprintln(o.Out, "\nRoles:")
		tw := o.table()
		fmt.Fprintln(tw, "ROLE\tSUPPRESSED\tWEIGHT\tSHARE\tRANK\tFRAMEWORK RANK\tQUOTA")
		for _, r := range f.Roles {
			quota := "-"
			if q := r.Quota; q != nil {
				quota = fmt.Sprintf("guarantees %s, limits %s, consumed %s", Quantities(q.Guarantees), Quantities(q.Limits), Quantities(q.Consumed))
				if len(q.LimitReached) > 0 {
					quota += "; limit reached: " + strings.Join(q.LimitReached, ",")
				}
			}
			fmt.Fprintf(tw, "%s\t%t\t%s\t%.4f\t%d/%d\t%d/%d\t%s\n", r.Role, r.Suppressed, resources.FormatScalar(r.Weight),
				r.DominantShare, r.Rank, r.Roles, r.FrameworkRank, r.Frameworks, quota)
		}
		tw.Flush()
	}
	if len(f.Filters) > 0 {
		fmt.Fprintln(o.Out, "\nOffer filters:")
		tw := o.table()
		fmt.Fprintln(tw, "AGENT\tHOSTNAME\tROLE\tRESOURCES\tUNTIL")
		for _, fl := range f.Filters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fl.AgentID, fl.Hostname, fl.Role, fl.Resources, o.until(fl.Until))
		}
		tw.Flush()
	}
	if len(f.Offers) > 0 {
		fmt.Fprintln(o.Out, "\nOutstanding offers:")
		tw := o.table()
		fmt.Fprintln(tw, "OFFER\tAGENT\tHOSTNAME\tROLE\tRESOURCES\tSINCE")
		for _, of := range f.Offers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", of.OfferID, of.AgentID, of.Hostname, of.Role, of.Resources, o.since(of.Since))
		}
		tw.Flush()
	}
	if len(f.Agents) > 0 {
		fmt.Fprintln(o.Out, "\nAgents:")
		tw := o.table()
		fmt.Fprintln(tw, "AGENT\tHOSTNAME\tFREE\tWHY NOT OFFERED")
		for _, a := range f.Agents {
			why := "-"
			if len(a.Reasons) > 0 {
				var codes []string
				for _, r := range a.Reasons {
					codes = append(codes, r.Code)
				}
				why = strings.Join(codes, ",")
			}
			free := a.Free
			if free == "" {
				free = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.AgentID, a.Hostname, free, why)
		}
		tw.Flush()
	}
	return nil
}

// WhyTask prints the explainer's answer for a task.
func (o *Ops) WhyTask(ctx context.Context, task, framework string) error {
	t, err := o.Client.ExplainTask(ctx, task, framework)
	if err != nil {
		return o.explainErr(err, "task", task)
	}
	if o.JSON {
		return o.writeJSON(t)
	}
	fmt.Fprintf(o.Out, "Task %s (%s) of framework %s: %s\n\n", t.TaskID, t.Name, t.FrameworkID, t.State)
	o.reasons(t.Reasons, "It is running.")
	fmt.Fprintln(o.Out)
	tw := o.table()
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	agent := t.AgentID
	if t.Hostname != "" {
		agent += " (" + t.Hostname + ")"
	}
	row("Agent", agent)
	row("Executor", t.ExecutorID)
	row("Container", t.ContainerID)
	if u := t.LastUpdate; u != nil {
		last := u.State
		for _, s := range []string{u.Source, u.Reason} {
			if s != "" {
				last += ", " + s
			}
		}
		if u.Message != "" {
			last += ": " + u.Message
		}
		row("Last update", last+" ("+o.since(u.Timestamp)+")")
	}
	return tw.Flush()
}

func (o *Ops) reasons(rs []explain.Reason, none string) {
	if len(rs) == 0 {
		fmt.Fprintln(o.Out, none)
		return
	}
	fmt.Fprintln(o.Out, "Why:")
	for _, r := range rs {
		fmt.Fprintf(o.Out, "  %s: %s\n", r.Code, r.Message)
	}
}

func (o *Ops) explainErr(err error, what, which string) error {
	if se := statusOf(err); se != 0 {
		switch se {
		case 404:
			return fmt.Errorf("%w\nNo %s %q is known to the master (or the master has no explainer: it is a meso extension, absent from Apache Mesos)", err, what, which)
		case 409:
			return fmt.Errorf("%w\nSeveral frameworks have that name: pass a framework ID (see 'meso framework list')", err)
		}
	}
	return o.Explain(err)
}

func epoch(sec float64) time.Time { return time.Unix(0, int64(sec*1e9)) }

// until says when a time in seconds since the epoch comes ("in 4s").
func (o *Ops) until(sec float64) string {
	d := epoch(sec).Sub(o.now()).Round(time.Second)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.String()
}

// since says how long ago a time in seconds since the epoch was.
func (o *Ops) since(sec float64) string {
	if sec == 0 {
		return "-"
	}
	return o.now().Sub(epoch(sec)).Round(time.Second).String() + " ago"
}
