package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
)

// Jobs that outlast their call are kept this long, and at most this many.
const (
	jobTTL  = 24 * time.Hour
	maxJobs = 10000
	// maxWait is the longest wait a call may ask for (the wait parameter).
	maxWait = 600
)

// JobStatus tells of an asynchronous NanoGPT job.
type JobStatus struct {
	ID     string `json:"id" jsonschema_description:"The job's id: pass it to getJob as jobId."`
	Tool   string `json:"tool" jsonschema_description:"The tool that started it."`
	Status string `json:"status" jsonschema_description:"NanoGPT's last status for it."`
	Done   bool   `json:"done" jsonschema_description:"True when it finished and its result is here."`
	RunID  string `json:"runId" jsonschema_description:"NanoGPT's id of the job."`
}

// Pending is part of the output of every tool whose NanoGPT job may outlast
// the call: Job is set when the call returned before the job finished.
type Pending struct {
	Job *JobStatus `json:"job,omitempty" jsonschema_description:"Set when the NanoGPT job was still running when this call stopped waiting: the rest of the result is not there yet. Call getJob with job.id to wait again; nothing more is charged."`
}

func (p *Pending) setJob(j *JobStatus) { p.Job = j }

// jobHolder is the output of a tool whose jobs getJob can wait for.
type jobHolder interface{ setJob(*JobStatus) }

// jobRecord is a job that outlasted its call.
type jobRecord struct {
	id, owner, tool string
	job             nanogpt.Job
	args            json.RawMessage // the call's arguments, for the rest of the work (where media goes)
	created         time.Time
}

func (r *jobRecord) status(done bool) *JobStatus {
	return &JobStatus{ID: r.id, Tool: r.tool, Status: r.job.Status, Done: done, RunID: r.job.RunID}
}

// jobs keeps the jobs that outlasted their calls, for getJob, in memory,
// bounded by jobTTL and maxJobs. A job belongs to the caller who started it
// (owner; "" over stdio): another caller cannot see it.
type jobs struct {
	mu   sync.Mutex
	byID map[string]*jobRecord
}

func (j *jobs) put(owner, tool string, job nanogpt.Job, args json.RawMessage) *jobRecord {
	var b [12]byte
	_, _ = rand.Read(b[:])
	r := &jobRecord{id: "job_" + hex.EncodeToString(b[:]), owner: owner, tool: tool, job: job, args: args, created: time.Now()}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.byID == nil {
		j.byID = map[string]*jobRecord{}
	}
	var oldest *jobRecord
	for id, o := range j.byID {
		if time.Since(o.created) > jobTTL {
			delete(j.byID, id)
		} else if oldest == nil || o.created.Before(oldest.created) {
			oldest = o
		}
	}
	if len(j.byID) >= maxJobs && oldest != nil {
		delete(j.byID, oldest.id)
	}
	j.byID[r.id] = r
	return r
}

// get returns owner's job id; another owner's is as unknown as a missing one.
func (j *jobs) get(owner, id string) (*jobRecord, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.byID[id]
	if !ok || r.owner != owner || time.Since(r.created) > jobTTL {
		return nil, false
	}
	return r, true
}

// update keeps a job's latest state, or forgets it once done.
func (j *jobs) update(r *jobRecord, job nanogpt.Job, done bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if done {
		delete(j.byID, r.id)
		return
	}
	r.job = job
}

// stillRunning reports the job of a wait that ended while NanoGPT was still
// working on it: the wait budget ran out, or the call's time limit did.
func stillRunning(ctx context.Context, err error) (nanogpt.Job, bool) {
	var pe *nanogpt.PendingError
	if errors.As(err, &pe) {
		return pe.Job, true
	}
	var jw *nanogpt.JobWaitError
	if errors.As(err, &jw) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return jw.Job, true
	}
	return nanogpt.Job{}, false
}

// pendingText says that a job is still running and what to do next.
func pendingText(r *jobRecord) string {
	charged := ""
	if r.job.Cost != nil {
		charged = costText(r.job.Cost, r.job.Currency)
	}
	return fmt.Sprintf("%s: NanoGPT's %s job is still running (status %q%s). Call getJob with {\"jobId\": %q} to wait for it again; "+
		"it returns the result as %s would have. Nothing more is charged, and the job is not started again.",
		r.tool, r.job.Kind, r.job.Status, charged, r.id, r.tool)
}

// waitFor is how long a call waits for its job: the call's wait parameter
// (seconds), else the server's default.
func (d *Deps) waitFor(seconds *int) time.Duration {
	if seconds != nil {
		return time.Duration(min(max(*seconds, 0), maxWait)) * time.Second
	}
	if d.JobWait > 0 {
		return d.JobWait
	}
	return 50 * time.Second
}

// poll is the polling of this call's job: waiting at most wait, with a
// progress notification after each status check.
func (c *call) poll(what string) nanogpt.PollOptions {
	p := c.deps.Poll
	p.MaxWait = max(c.wait, time.Millisecond) // 0 would mean "until the deadline"
	p.OnPoll = func(status string, attempt int) {
		c.progress.report(fmt.Sprintf("%s job %s (check %d)", what, status, attempt), true)
	}
	return p
}

// GetJobInput is the input of getJob.
type GetJobInput struct {
	JobID string `json:"jobId" jsonschema:"minLength=1" jsonschema_description:"The job's id, from the job.id of a result that said the job was still running."`
	Wait  *int   `json:"wait,omitempty" jsonschema:"minimum=0,maximum=600" jsonschema_description:"Seconds to wait for the job to finish before answering that it still runs (default 50)."`
}

// GetJobOutput is the structured result of getJob.
type GetJobOutput struct {
	Job    JobStatus       `json:"job" jsonschema_description:"The job."`
	Result json.RawMessage `json:"result,omitempty" jsonschema:"type=object" jsonschema_description:"When done: the structured result of the tool that started the job, as that tool returns it (see its output schema)."`
}

// GetJob is the getJob tool.
func (toolset) GetJob() definition {
	return tool[GetJobInput, GetJobOutput]{
		Spec: Spec{
			Name:  "getJob",
			Title: "Wait for a NanoGPT job",
			Description: "Wait again for a NanoGPT job (video, speech, transcription) that was still running when its call returned, " +
				"and return its result as that call would have. Jobs are kept 24 h. Free.",
			Summary:  "wait for a job that is still running",
			ReadOnly: true, Idempotent: true,
		},
		wait: func(in *GetJobInput) *int { return in.Wait },
		run:  runGetJob,
	}
}

func runGetJob(ctx context.Context, c *call, in *GetJobInput) (*GetJobOutput, []mcp.Content, error) {
	rec, ok := c.deps.jobs.get(c.owner, in.JobID)
	if !ok {
		return nil, nil, invalid("jobId: there is no job %q here: it finished and its result was returned, it is older than 24 h, the server restarted, or another caller started it", in.JobID)
	}
	def, ok := c.deps.registered[rec.tool]
	if !ok {
		return nil, nil, invalid("jobId: job %q was started by %s, which this server no longer offers", in.JobID, rec.tool)
	}
	out, content, err := def.resume(ctx, c, rec)
	if job, running := stillRunning(ctx, err); running {
		c.deps.jobs.update(rec, job, false)
		return &GetJobOutput{Job: *rec.status(false)}, []mcp.Content{mcp.NewTextContent(pendingText(rec))}, nil
	}
	if err != nil {
		var je *nanogpt.JobError
		c.deps.jobs.update(rec, rec.job, errors.As(err, &je)) // a failed job is over; anything else may be retried
		return nil, nil, err
	}
	c.deps.jobs.update(rec, rec.job, true)
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, nil, err
	}
	st := rec.status(true)
	st.Status = "completed"
	return &GetJobOutput{Job: *st, Result: raw}, content, nil
}
